"""Base model: camelCase on the wire (as the JSON Schemas in contracts/), snake_case in Python."""

from __future__ import annotations

from typing import Any, Self

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

# Records: the leaf items a long recording has tens of thousands of (transcript and plan words)
# are slotted pydantic dataclasses with this config — the same wire format and validation as a
# ContractModel at about a third of the memory (no per-instance __dict__ or fields-set).
RECORD_CONFIG = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class ContractModel(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
    )

    def to_json_bytes(self) -> bytes:
        """Canonical JSON: aliases, stable key order, indented — byte-identical for equal models.

        Serialised straight to bytes: no str copies of a document that can run to megabytes."""
        return self.__pydantic_serializer__.to_json(self, by_alias=True, indent=2) + b"\n"

    def to_jsonable(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)

    @classmethod
    def from_json_bytes(cls, data: bytes | str) -> Self:
        return cls.model_validate_json(data)

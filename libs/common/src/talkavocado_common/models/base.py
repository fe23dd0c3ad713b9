"""Base model: camelCase on the wire (as the JSON Schemas in contracts/), snake_case in Python."""

from __future__ import annotations

from typing import Any, Self

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class ContractModel(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
    )

    def to_json_bytes(self) -> bytes:
        """Canonical JSON: aliases, stable key order, indented — byte-identical for equal models."""
        return (self.model_dump_json(by_alias=True, indent=2) + "\n").encode()

    def to_jsonable(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)

    @classmethod
    def from_json_bytes(cls, data: bytes | str) -> Self:
        return cls.model_validate_json(data)

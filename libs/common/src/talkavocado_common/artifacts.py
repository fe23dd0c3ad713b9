"""Reading what earlier steps wrote, with the contract's errors when it is missing or invalid."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

from pydantic import ValidationError

from .models import ContractModel, ErrorCode
from .steps import StepError
from .storage import NotFound, Storage

M = TypeVar("M", bound=ContractModel)


async def read_artifact(
    storage: Storage, key: str, model: type[M], *, what: str, producer: str
) -> M:
    """A JSON artifact validated against its model.

    Missing → INPUT_NOT_FOUND naming the step that writes it; invalid → INPUT_INVALID."""
    try:
        data, _ = await storage.read_bytes(key)
    except NotFound:
        raise StepError(
            ErrorCode.INPUT_NOT_FOUND, f"the {what} is missing ({key}); {producer} must run first"
        ) from None
    try:
        return model.from_json_bytes(data)
    except ValidationError as exc:  # bad JSON and a bad shape alike
        raise StepError(
            ErrorCode.INPUT_INVALID,
            f"the {what} at {key} does not match its contract ({exc.error_count()} error(s)); "
            f"rerun {producer}",
        ) from None


async def local_file(storage: Storage, key: str, target: Path) -> Path:
    """A path ffmpeg can read: the object in place when the backend has one, else a copy at
    `target`. Raises NotFound."""
    in_place = storage.local_path(key)
    if in_place is not None and in_place.is_file():
        return in_place
    await storage.download_to(key, target)
    return target

"""Error codes a step may raise (docs/architecture.md §2)."""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    INPUT_INVALID = "INPUT_INVALID"
    INPUT_NOT_FOUND = "INPUT_NOT_FOUND"
    CODEC_UNSUPPORTED = "CODEC_UNSUPPORTED"
    TRANSIENT_DEPENDENCY = "TRANSIENT_DEPENDENCY"
    TIMEOUT = "TIMEOUT"
    INTERNAL = "INTERNAL"

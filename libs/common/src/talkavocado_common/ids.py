"""Job ids: time-ordered (newest sorts last) and unguessable."""

from __future__ import annotations

import secrets
import time


def new_job_id() -> str:
    return f"{time.time_ns() // 1_000_000:012x}-{secrets.token_hex(8)}"

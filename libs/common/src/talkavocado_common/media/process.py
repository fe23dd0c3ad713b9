"""A child process never outlives the task that awaits it."""

from __future__ import annotations

import asyncio
import contextlib


async def stop_process(proc: asyncio.subprocess.Process) -> None:
    """Kill `proc` if it still runs, and reap it. Shielded: a second cancellation while reaping
    does not leave a zombie behind (the wait goes on and asyncio's child watcher reaps it)."""
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
    await asyncio.shield(proc.wait())

"""A step service for subprocess tests: `python -m tests.integration.worker.entry`.

Runs as the `audio` service with one step, `slow`, that sleeps `context.seconds` and appends
`start <pid>` / `done <pid>` lines to the file `context.log`.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from talkavocado_common.steps import StepEnv, StepHandler, StepRequest, StepResult
from talkavocado_common.worker import main


def _note(path: Path, line: str) -> None:
    with path.open("a") as handle:
        handle.write(f"{line} {os.getpid()}\n")


async def slow(req: StepRequest, env: StepEnv) -> StepResult:
    log = Path(str(req.context["log"]))
    seconds = float(req.context["seconds"])
    _note(log, "start")
    ticks = max(1, int(seconds / 0.1))
    for i in range(ticks):
        env.progress(i / ticks, "sleeping")
        await asyncio.sleep(seconds / ticks)
    _note(log, "done")
    return {"pid": os.getpid()}


HANDLERS: dict[str, StepHandler] = {"slow": slow}

if __name__ == "__main__":
    sys.exit(main("audio", HANDLERS))

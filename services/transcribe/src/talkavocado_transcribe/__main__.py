"""`python -m talkavocado_transcribe`: the transcribe step service (a StepWorker with this service's handlers).

The warm-up model starts loading in a thread once the configuration is known to be valid, while
the worker runtime is set up; the worker's warm-up then finds it loaded or waits for the load in
flight (`preload.py`), and /readyz turns 200 sooner. An invalid configuration starts no load: a
process exiting while CTranslate2 loads a model in a thread aborts instead of exiting 2."""

from __future__ import annotations

import sys

from pydantic import ValidationError

if __name__ == "__main__":
    from talkavocado_common.topology import load_handlers
    from talkavocado_common.worker import main

    from .handler import warmup
    from .preload import start_preload
    from .settings import TranscribeSettings

    try:
        settings: TranscribeSettings | None = TranscribeSettings()
    except ValidationError:
        settings = None  # main() below reports it in one line and exits 2
    if settings is not None and start_preload(settings.warmup_model) is None:
        # No warm-up: the engine is still imported now, not on the event loop by the first job.
        from . import engine  # noqa: F401

    sys.exit(main("transcribe", load_handlers("transcribe"), TranscribeSettings, warmup=warmup))

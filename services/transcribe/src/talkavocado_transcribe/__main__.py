"""`python -m talkavocado_transcribe`: the transcribe step service (a StepWorker with this service's handlers)."""

from __future__ import annotations

import sys

from talkavocado_common.worker import main

from .handler import HANDLERS, warmup
from .settings import TranscribeSettings

if __name__ == "__main__":
    sys.exit(main("transcribe", HANDLERS, TranscribeSettings, warmup=warmup))

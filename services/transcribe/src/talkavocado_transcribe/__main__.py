"""`python -m talkavocado_transcribe`: the transcribe step service (a StepWorker with this service's handlers)."""

from __future__ import annotations

import sys

from talkavocado_common.topology import load_handlers
from talkavocado_common.worker import main

from .handler import warmup
from .settings import TranscribeSettings

if __name__ == "__main__":
    sys.exit(main("transcribe", load_handlers("transcribe"), TranscribeSettings, warmup=warmup))

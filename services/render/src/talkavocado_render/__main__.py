"""`python -m talkavocado_render`: the render step service (a StepWorker with this service's handlers)."""

from __future__ import annotations

import sys

from talkavocado_common.topology import load_handlers
from talkavocado_common.worker import main

from .settings import RenderSettings

if __name__ == "__main__":
    sys.exit(main("render", load_handlers("render", include_substeps=True), RenderSettings))

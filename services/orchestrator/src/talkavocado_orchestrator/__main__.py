"""`python -m talkavocado_orchestrator`: create the topics, then run the faust worker."""

from __future__ import annotations

import asyncio
import sys

from talkavocado_common.asl import AslError
from talkavocado_common.config import ConfigError, load_settings
from talkavocado_common.kafka import TopicError, ensure_topics
from talkavocado_common.observability import configure_observability

from .app import create_app, internal_topics
from .settings import OrchestratorSettings


def main() -> int:
    try:
        settings = load_settings(OrchestratorSettings)
        configure_observability("orchestrator", settings.observability)
        kafka = settings.kafka
        app = create_app(kafka, settings.storage, settings)
        asyncio.run(ensure_topics(kafka, internal_topics(kafka, settings)))
    except (ConfigError, AslError, TopicError, ValueError, OSError) as exc:
        sys.stderr.write(f"orchestrator: {str(exc).splitlines()[0]}\n")
        return 2
    import faust

    # override_logging=False: faust keeps our handlers (JSON lines with the job's context).
    worker = faust.Worker(
        app, loglevel=settings.observability.log_level, quiet=True, override_logging=False
    )
    # faust's terminal spinner writes cursor escapes even when stdout is no terminal, which
    # would break the first JSON log line.
    worker.spinner = None
    worker.execute_from_commandline()
    return 0


if __name__ == "__main__":
    sys.exit(main())

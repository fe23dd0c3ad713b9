"""`python -m talkavocado_orchestrator`: create the topics, then run the faust worker.

Its stop is bounded: faust's graceful shutdown (commit, leave the group, flush the changelog)
gets SHUTDOWN_DEADLINE_SECONDS, then the process exits 70 with one log line — faust's shutdown
otherwise waits on a broker that is gone for a minute or more. Started by `avocado up`, the process
also stops when its supervisor dies (`talkavocado_common.lifeline`).
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from talkavocado_common.asl import AslError
from talkavocado_common.config import ConfigError, load_settings
from talkavocado_common.kafka import TopicError, ensure_topics
from talkavocado_common.lifeline import StopDeadline, watch_lifeline
from talkavocado_common.observability import configure_observability

from .app import create_app, internal_topic_configs, internal_topics
from .settings import OrchestratorSettings

SERVICE = "orchestrator"
SHUTDOWN_DEADLINE_SECONDS = 20.0


def bounded_worker(app: Any, settings: OrchestratorSettings, deadline: StopDeadline) -> Any:
    """A faust Worker whose stop, whatever starts it (a signal, a crash), arms `deadline`."""
    import faust

    class Worker(faust.Worker):
        async def on_stop(self) -> None:  # mode.Service's hook: the first thing stop() does
            deadline.arm("the stop")
            await super().on_stop()

    # override_logging=False: faust keeps our handlers (JSON lines with the job's context).
    worker = Worker(
        app, loglevel=settings.observability.log_level, quiet=True, override_logging=False
    )
    # faust's terminal spinner writes cursor escapes even when stdout is no terminal, which
    # would break the first JSON log line.
    worker.spinner = None
    return worker


def main() -> int:
    try:
        settings = load_settings(OrchestratorSettings)
        configure_observability(SERVICE, settings.observability)
        watch_lifeline(SERVICE)
        kafka = settings.kafka
        app = create_app(kafka, settings.storage, settings)
        topics = internal_topics(kafka, settings)
        asyncio.run(ensure_topics(kafka, topics, configs=internal_topic_configs(settings)))
    except (ConfigError, AslError, TopicError, ValueError, OSError) as exc:
        sys.stderr.write(f"orchestrator: {str(exc).splitlines()[0]}\n")
        return 2
    worker = bounded_worker(app, settings, StopDeadline(SERVICE, SHUTDOWN_DEADLINE_SECONDS))
    worker.execute_from_commandline()
    return 0


if __name__ == "__main__":
    sys.exit(main())

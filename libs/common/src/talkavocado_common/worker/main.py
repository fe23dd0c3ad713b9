"""`python -m talkavocado_<service>`: one step service process (DESIGN.md §5, §8).

Reads the service's settings class from the environment, opens the storage
and runs a StepWorker with the service's handlers until SIGTERM/SIGINT. A bad configuration is
one clear line on stderr and exit code 2; a worker that cannot carry on exits 1 (a supervisor
restarts it and its uncommitted step is redelivered).
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Mapping

from ..config import ConfigError, load_settings
from ..events import Topics
from ..steps import StepHandler
from ..storage import open_storage
from .runtime import StepWorker, WorkerCrashed
from .settings import StepServiceSettings

EXIT_CONFIG = 2


def load_config(
    service: str, settings_class: type[StepServiceSettings] = StepServiceSettings
) -> StepServiceSettings:
    """The service's settings from the environment, checked beyond what each field checks."""
    settings = load_settings(settings_class)
    kafka = settings.kafka
    try:
        Topics(kafka.topic_prefix).steps(service)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if kafka.heartbeat_interval_ms >= kafka.session_timeout_ms:
        raise ConfigError(
            f"KAFKA_HEARTBEAT_INTERVAL_MS={kafka.heartbeat_interval_ms} must be below "
            f"KAFKA_SESSION_TIMEOUT_MS={kafka.session_timeout_ms}"
        )
    return settings


def configure_logging(service: str, level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        format=f"%(asctime)s %(levelname)s {service} %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("aiokafka").setLevel(max(logging.WARNING, logging.getLogger().level))


def main(
    service: str,
    handlers: Mapping[str, StepHandler],
    settings_class: type[StepServiceSettings] = StepServiceSettings,
) -> int:
    prog = f"talkavocado-{service}"
    try:
        settings = load_config(service, settings_class)
        storage = open_storage(settings.storage.storage_url, settings.storage)
    except (ConfigError, ValueError) as exc:
        print(f"{prog}: bad configuration: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    configure_logging(service, settings.observability.log_level)
    worker = StepWorker(service, handlers, settings.kafka, storage, settings=settings)
    try:
        asyncio.run(worker.run_until_signal())
    except WorkerCrashed as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:  # e.g. the metrics port is taken
        print(f"{prog}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0

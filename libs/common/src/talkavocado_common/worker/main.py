"""`python -m talkavocado_<service>`: one step service process (docs/architecture.md §5, §9).

Reads the service's settings class from the environment, opens the storage
and runs a StepWorker with the service's handlers until SIGTERM/SIGINT. A bad configuration is
one clear line on stderr and exit code 2; a worker that cannot carry on exits 1 (a supervisor
restarts it and its uncommitted step is redelivered).
"""

from __future__ import annotations

import asyncio
import functools
import sys
from collections.abc import Awaitable, Callable, Mapping

from ..config import ConfigError, load_settings
from ..events import Topics
from ..observability import configure_observability
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


def main(
    service: str,
    handlers: Mapping[str, StepHandler],
    settings_class: type[StepServiceSettings] = StepServiceSettings,
    warmup: Callable[[StepServiceSettings], Awaitable[None]] | None = None,
) -> int:
    """`warmup(settings)` runs before the worker joins its group (a model load): /readyz stays
    503 until it is done, which is what a startup probe waits for."""
    prog = f"talkavocado-{service}"
    try:
        settings = load_config(service, settings_class)
        storage = open_storage(settings.storage.storage_url, settings.storage)
        configure_observability(service, settings.observability)  # OTLP extra missing: exit 2
    except (ConfigError, ValueError) as exc:
        print(f"{prog}: bad configuration: {exc}", file=sys.stderr)
        return EXIT_CONFIG

    worker = StepWorker(
        service,
        handlers,
        settings.kafka,
        storage,
        settings=settings,
        warmup=functools.partial(warmup, settings) if warmup is not None else None,
    )
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

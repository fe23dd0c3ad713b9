"""`python -m talkavocado_<service>`: one step service process (DESIGN.md §5, §8).

Reads KafkaSettings, StorageSettings and WorkerSettings from the environment, opens the storage
and runs a StepWorker with the service's handlers until SIGTERM/SIGINT. A bad configuration is
one clear line on stderr and exit code 2; a worker that cannot carry on exits 1 (a supervisor
restarts it and its uncommitted step is redelivered).
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Mapping
from typing import TypeVar

from pydantic import BaseModel, ValidationError
from pydantic_settings import BaseSettings

from ..events import Topics
from ..settings import KafkaSettings, StorageSettings
from ..steps import StepHandler
from ..storage import open_storage
from .runtime import StepWorker, WorkerCrashed
from .settings import WorkerSettings

EXIT_CONFIG = 2
_S = TypeVar("_S", bound=BaseSettings)


class ConfigError(ValueError):
    """A setting is missing or malformed; the text names the environment variable."""


def _env_name(model: type[BaseModel], field: str) -> str:
    info = model.model_fields.get(field)
    if info is not None and isinstance(info.alias, str):
        return info.alias
    prefix = str(getattr(model, "model_config", {}).get("env_prefix", ""))
    return f"{prefix}{field}".upper()


def _settings(model: type[_S]) -> _S:
    try:
        return model()
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else ""
        value = first.get("input")
        raise ConfigError(
            f"{_env_name(model, field)}={value!r}: {first['msg']}"
            if field
            else f"{model.__name__}: {first['msg']}"
        ) from None


def load_config(service: str) -> tuple[KafkaSettings, StorageSettings, WorkerSettings]:
    kafka = _settings(KafkaSettings)
    storage = _settings(StorageSettings)
    worker = _settings(WorkerSettings)
    try:
        Topics(kafka.topic_prefix).steps(service)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if kafka.heartbeat_interval_ms >= kafka.session_timeout_ms:
        raise ConfigError(
            f"KAFKA_HEARTBEAT_INTERVAL_MS={kafka.heartbeat_interval_ms} must be below "
            f"KAFKA_SESSION_TIMEOUT_MS={kafka.session_timeout_ms}"
        )
    return kafka, storage, worker


def configure_logging(service: str, level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        format=f"%(asctime)s %(levelname)s {service} %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("aiokafka").setLevel(max(logging.WARNING, logging.getLogger().level))


def main(service: str, handlers: Mapping[str, StepHandler]) -> int:
    prog = f"talkavocado-{service}"
    try:
        kafka, storage_settings, settings = load_config(service)
        if logging.getLevelName(settings.log_level.upper()) not in range(51):
            raise ConfigError(f"LOG_LEVEL={settings.log_level!r}: not a log level")
        storage = open_storage(storage_settings.storage_url)
    except (ConfigError, ValueError) as exc:
        print(f"{prog}: bad configuration: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    configure_logging(service, settings.log_level)
    worker = StepWorker(service, handlers, kafka, storage, settings=settings)
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

"""`python -m talkavocado_api`: serve the API with uvicorn, configured from the environment.

Publishes job commands to Kafka and streams status events from it (kafka_wiring.py);
`build_app` without a publisher/feed (embedding, tests) falls back to in-memory ones.

A stop is bounded: uvicorn closes the port at once and gives open requests (SSE streams)
GRACEFUL_SHUTDOWN_SECONDS; STOP_DEADLINE_SECONDS after the signal the process exits 70 with one
log line whatever still waits (a Kafka client on a broker that is gone). Started by `avocado up`,
the process also stops when its supervisor dies (`talkavocado_common.lifeline`).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Mapping
from types import FrameType

import uvicorn
from aiokafka.errors import KafkaError
from fastapi import FastAPI

from talkavocado_common.config import ConfigError, load_settings
from talkavocado_common.lifeline import StopDeadline, watch_lifeline
from talkavocado_common.observability import TracingConfigError, configure_observability
from talkavocado_common.storage import open_storage

from .app import create_app
from .auth import ApiKeyRing, KeyConfigError, load_keyring
from .ports import (
    EventPublisher,
    InMemoryPublisher,
    InMemoryStatusFeed,
    ReadinessCheck,
    StatusFeed,
    storage_check,
    tcp_check,
)
from .settings import ApiSettings

log = logging.getLogger("talkavocado_api")

GRACEFUL_SHUTDOWN_SECONDS = 10
STOP_DEADLINE_SECONDS = GRACEFUL_SHUTDOWN_SECONDS + 5.0


class _BoundedServer(uvicorn.Server):
    """uvicorn's server, whose first stop signal also arms the process's hard deadline."""

    def __init__(self, config: uvicorn.Config, deadline: StopDeadline | None) -> None:
        super().__init__(config)
        self._deadline = deadline

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self._deadline is not None:
            self._deadline.arm(signal.Signals(sig).name)
        super().handle_exit(sig, frame)


def build_app(
    settings: ApiSettings,
    *,
    publisher: EventPublisher | None = None,
    status_feed: StatusFeed | None = None,
    readiness_checks: Mapping[str, ReadinessCheck] | None = None,
    keyring: ApiKeyRing | None = None,
) -> FastAPI:
    """The app over the configured storage; publisher and feed default to in-memory ones.

    Raises KeyConfigError (bad or no API keys) or ValueError (unusable STORAGE_URL).
    """
    keyring = keyring if keyring is not None else load_keyring(settings)
    storage = open_storage(settings.storage.storage_url, settings.storage)
    if publisher is None or status_feed is None:
        log.warning(
            "no Kafka publisher/status feed wired: events stay in memory and no job will run"
        )
    checks = dict(
        readiness_checks
        if readiness_checks is not None
        else {
            "storage": storage_check(storage),
            "broker": tcp_check(settings.kafka.bootstrap_servers),
        }
    )
    return create_app(
        settings,
        storage=storage,
        publisher=publisher or InMemoryPublisher(),
        status_feed=status_feed or InMemoryStatusFeed(),
        readiness_checks=checks,
        keyring=keyring,
    )


async def serve(app: FastAPI, settings: ApiSettings, deadline: StopDeadline | None = None) -> None:
    """Run uvicorn in the current event loop (so Kafka clients can share it); a stop signal
    arms `deadline`."""
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,  # our JSON logging
        access_log=False,  # the middleware logs each request with its correlation id
        ws="none",
        lifespan="on",
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
    )
    await _BoundedServer(config, deadline).serve()


async def run_with_kafka(settings: ApiSettings, keyring: ApiKeyRing) -> None:
    """Serve with the Kafka publisher and status feed until uvicorn stops."""
    from talkavocado_common.kafka import KafkaPublisher

    from .kafka_wiring import KafkaStatusFeed, broker_check

    feed = KafkaStatusFeed(settings.kafka)
    async with KafkaPublisher(settings.kafka) as publisher:
        await feed.start()
        try:
            app = build_app(
                settings,
                publisher=publisher,
                status_feed=feed,
                readiness_checks={
                    "storage": storage_check(
                        open_storage(settings.storage.storage_url, settings.storage)
                    ),
                    "broker": broker_check(settings.kafka),
                },
                keyring=keyring,
            )
            await serve(app, settings, StopDeadline("api", STOP_DEADLINE_SECONDS))
        finally:
            await feed.stop()


def main() -> int:
    try:
        settings = load_settings(ApiSettings)
        configure_observability("api", settings.observability)
    except (ConfigError, TracingConfigError) as exc:
        sys.stderr.write(f"talkavocado-api: bad configuration: {exc}\n")
        return 2
    watch_lifeline("api")
    try:
        keyring = load_keyring(settings)
        open_storage(settings.storage.storage_url, settings.storage)
    except (KeyConfigError, ValueError) as exc:  # KeyConfigError is a ValueError too
        log.error("cannot start: %s", exc)
        return 2
    try:
        asyncio.run(run_with_kafka(settings, keyring))
    except (OSError, KafkaError) as exc:  # no broker: exit so a supervisor restarts us
        log.error("cannot reach Kafka at %s: %s", settings.kafka.bootstrap_servers, exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

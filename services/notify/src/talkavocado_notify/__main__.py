"""`python -m talkavocado_notify`: the webhook service (docs/architecture.md).

Reads NotifySettings from the environment, opens the storage and runs the NotifyService until
SIGTERM/SIGINT. A bad configuration is one clear line on stderr and exit code 2; a service that
cannot carry on exits 1 (a supervisor restarts it; nothing pending is lost, it is in storage).
A stop is bounded: SHUTDOWN_GRACE_SECONDS for the calls in flight, then at most
STOP_MARGIN_SECONDS more before the process exits 70 (`talkavocado_common.lifeline`).
"""

from __future__ import annotations

import asyncio
import sys

from talkavocado_common.config import ConfigError, load_settings
from talkavocado_common.lifeline import StopDeadline, watch_lifeline
from talkavocado_common.observability import configure_observability
from talkavocado_common.storage import open_storage

from .service import SERVICE, NotifyCrashed, NotifyService
from .settings import NotifySettings

EXIT_CONFIG = 2
STOP_MARGIN_SECONDS = 10.0
PROG = "talkavocado-notify"


def load_config() -> NotifySettings:
    settings = load_settings(NotifySettings)
    kafka = settings.kafka
    if kafka.heartbeat_interval_ms >= kafka.session_timeout_ms:
        raise ConfigError(
            f"KAFKA_HEARTBEAT_INTERVAL_MS={kafka.heartbeat_interval_ms} must be below "
            f"KAFKA_SESSION_TIMEOUT_MS={kafka.session_timeout_ms}"
        )
    return settings


def main() -> int:
    try:
        settings = load_config()
        storage = open_storage(settings.storage.storage_url, settings.storage)
        configure_observability(SERVICE, settings.observability)
    except (ConfigError, ValueError) as exc:
        print(f"{PROG}: bad configuration: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    watch_lifeline(SERVICE)
    service = NotifyService(settings, storage)
    deadline = StopDeadline(SERVICE, settings.shutdown_grace_seconds + STOP_MARGIN_SECONDS)

    def arm() -> None:
        deadline.arm("the stop request")

    service.on_stop = arm
    try:
        asyncio.run(service.run_until_signal())
    except (NotifyCrashed, OSError) as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())

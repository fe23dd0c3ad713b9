"""`python -m talkavocado_<service>`: one step service process (docs/architecture.md §5, §9).

Reads the service's settings class from the environment, opens the storage
and runs a StepWorker with the service's handlers until SIGTERM/SIGINT. A bad configuration is
one clear line on stderr and exit code 2; a worker that cannot carry on exits 1 (a supervisor
restarts it and its uncommitted step is redelivered).

A stop is bounded: SHUTDOWN_GRACE_SECONDS for the step in flight, then at most
STOP_MARGIN_SECONDS more to hand it back and close the Kafka clients (which can wait on a broker
that is gone) — past that the process exits 70 with one log line. Started by `avocado up`, the
process also stops when its supervisor dies (`talkavocado_common.lifeline`).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Mapping

from ..config import ConfigError, load_settings
from ..events import Topics
from ..lifeline import StopDeadline, exit_now, watch_lifeline
from ..observability import configure_observability
from ..steps import StepHandler
from ..storage import open_storage
from .runtime import StepWorker, WorkerCrashed
from .settings import StepServiceSettings

log = logging.getLogger(__name__)

EXIT_CONFIG = 2
STOP_MARGIN_SECONDS = 10.0
THREAD_WAIT_SECONDS = 2.0


class _BoundedStopWorker(StepWorker):
    """The service process's worker: its first stop request also starts the process's hard
    deadline (`StopDeadline`)."""

    deadline: StopDeadline | None = None

    def request_stop(self, grace: float | None = None) -> None:
        if self.deadline is not None:
            self.deadline.arm("the stop request")
        super().request_stop(grace)


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


def _busy_thread_left(code: int = 0) -> None:
    log.warning("not waiting for the thread of a step handed back after the grace period")
    exit_now(code)


async def serve(worker: StepWorker) -> None:
    """`worker.run_until_signal()`, then exit without waiting for a handler thread that is still
    busy (and `leave_busy_threads` once the loop is closed): its step was handed back after the
    grace period, and CPU work in a thread cannot be interrupted — `asyncio.run` and the
    interpreter's exit would wait for it to finish."""
    await worker.run_until_signal()
    loop = asyncio.get_running_loop()
    try:
        await asyncio.wait_for(loop.shutdown_default_executor(), THREAD_WAIT_SECONDS)
    except TimeoutError:
        _busy_thread_left()


def leave_busy_threads(code: int, within: float = THREAD_WAIT_SECONDS) -> None:
    """Give the process's other threads `within` seconds to end (idle pool threads do at once),
    then exit now with `code` if one is still busy."""
    deadline = time.monotonic() + within
    for thread in threading.enumerate():
        if thread is threading.main_thread() or thread.daemon:
            continue
        thread.join(max(0.0, deadline - time.monotonic()))
        if thread.is_alive():
            _busy_thread_left(code)


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

    watch_lifeline(service)
    worker = _BoundedStopWorker(
        service,
        handlers,
        settings.kafka,
        storage,
        settings=settings,
        warmup=functools.partial(warmup, settings) if warmup is not None else None,
    )
    worker.deadline = StopDeadline(service, settings.shutdown_grace_seconds + STOP_MARGIN_SECONDS)
    code = 0
    try:
        asyncio.run(serve(worker))
    except WorkerCrashed as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        code = 1
    except OSError as exc:  # e.g. the metrics port is taken
        print(f"{prog}: {exc}", file=sys.stderr)
        code = 1
    except KeyboardInterrupt:
        code = 130
    leave_busy_threads(code)
    return code

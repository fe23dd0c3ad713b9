"""`avocado up`: the whole stack on one machine (docs/architecture.md §9).

A Kafka-compatible broker (the embedded Tansu, unless KAFKA_BOOTSTRAP_SERVERS names a cluster),
the topics, and the six services (notify, the webhooks, among them) as separate processes under a
supervisor. Prints the API URL
and a dev key for tenant `demo-tenant`; Ctrl-C / SIGTERM stops everything.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO
from urllib.parse import quote

import httpx

from talkavocado_common.api_keys import new_key
from talkavocado_common.kafka import EmbeddedBroker, ensure_topics, free_port
from talkavocado_common.settings import KafkaSettings

from .supervisor import ServiceSpec, Supervisor

DEV_TENANT = "demo-tenant"
STEP_SERVICES = ("audio", "transcribe", "render")
# A step in flight gets this long to finish on Ctrl-C: with the worker's own margin it stays
# below the supervisor's grace period, so every service stops by itself.
STEP_SHUTDOWN_GRACE_SECONDS = "15"
SUPERVISOR_GRACE_SECONDS = 30.0


@dataclass(frozen=True)
class StackConfig:
    port: int = 8000
    storage: str = "storage"
    dev_key: str | None = None
    env: str = "local"
    partitions: int = 3
    state_dir: Path = Path(".cache/avocado-up")


def orchestrator_topics(kafka: KafkaSettings, app_id: str) -> list[str]:
    # Imported lazily: faust is heavy and only the orchestrator process needs it loaded.
    from talkavocado_orchestrator.app import internal_topics
    from talkavocado_orchestrator.settings import OrchestratorSettings

    return internal_topics(kafka, OrchestratorSettings(app_id=app_id))


def orchestrator_topic_configs(app_id: str) -> dict[str, dict[str, str]]:
    from talkavocado_orchestrator.app import internal_topic_configs
    from talkavocado_orchestrator.settings import OrchestratorSettings

    return internal_topic_configs(OrchestratorSettings(app_id=app_id))


def service_specs(kafka: KafkaSettings, config: StackConfig, dev_key: str) -> list[ServiceSpec]:
    storage = config.storage if "://" in config.storage else str(Path(config.storage).resolve())
    common = {
        **kafka.to_env(),
        "STORAGE_URL": storage,
        "TALKAVOCADO_ENV": config.env,
        "WORKER_CREATE_TOPICS": "false",
        # One readable line per record in the prefixed console output; set LOG_FORMAT=json to
        # get the production format.
        "LOG_FORMAT": os.environ.get("LOG_FORMAT", "text"),
    }
    python = sys.executable
    grace = os.environ.get("SHUTDOWN_GRACE_SECONDS", STEP_SHUTDOWN_GRACE_SECONDS)
    orchestrator_port = free_port()
    specs = [
        ServiceSpec(
            "api",
            [python, "-m", "talkavocado_api"],
            {**common, "API_PORT": str(config.port), "API_KEYS": f"{DEV_TENANT}:{dev_key}"},
            readyz(config.port),
        ),
        ServiceSpec(
            "orchestrator",
            [python, "-m", "talkavocado_orchestrator"],
            {
                **common,
                "ORCHESTRATOR_WEB_PORT": str(orchestrator_port),
                "ORCHESTRATOR_DATA_DIR": str((config.state_dir / "orchestrator").resolve()),
            },
            readyz(orchestrator_port),
        ),
    ]
    for service in STEP_SERVICES:
        port = free_port()
        env = {**common, "METRICS_PORT": str(port), "SHUTDOWN_GRACE_SECONDS": grace}
        specs.append(
            ServiceSpec(service, [python, "-m", f"talkavocado_{service}"], env, readyz(port))
        )
    notify_port = free_port()
    specs.append(
        ServiceSpec(
            "notify",
            [python, "-m", "talkavocado_notify"],
            {
                **common,
                "METRICS_PORT": str(notify_port),
                "API_PUBLIC_URL": f"http://127.0.0.1:{config.port}",
                "SHUTDOWN_GRACE_SECONDS": grace,
                # Webhooks to this machine's own receivers need NOTIFY_ALLOW_PRIVATE_DESTINATIONS=true.
                "NOTIFY_ALLOW_PRIVATE_DESTINATIONS": os.environ.get(
                    "NOTIFY_ALLOW_PRIVATE_DESTINATIONS", "false"
                ),
            },
            readyz(notify_port),
        )
    )
    return specs


def readyz(port: int) -> str:
    return f"http://127.0.0.1:{port}/readyz"


async def wait_ready(
    services: Sequence[ServiceSpec],
    stopping: Callable[[], bool],
    output: TextIO,
    remind_every: float = 30.0,
) -> bool:
    """Poll every service's /readyz until each has answered 200 once (the API up is not
    enough: a job submitted then waits on an orchestrator still joining its group, or on a
    transcriber loading its model). Every `remind_every` s, says who is still not ready.
    False if the stack stops first."""
    pending = {s.name: s.ready_url for s in services if s.ready_url}
    started = time.monotonic()
    next_reminder = started + remind_every
    async with httpx.AsyncClient(timeout=2.0) as client:
        while pending and not stopping():
            for name, url in list(pending.items()):
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(url)).status_code == 200:
                        del pending[name]
            if pending and time.monotonic() >= next_reminder:
                waited = time.monotonic() - started
                output.write(
                    f"avocado: after {waited:.0f} s still waiting for {', '.join(pending)}"
                    " to be ready\n"
                )
                output.flush()
                next_reminder += remind_every
            await asyncio.sleep(0.25)
    return not pending


@contextlib.contextmanager
def broker_for(config: StackConfig, log_dir: Path) -> Iterator[KafkaSettings]:
    """The cluster named by KAFKA_BOOTSTRAP_SERVERS, else an embedded Tansu for the stack's life."""
    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        yield KafkaSettings(partitions=config.partitions)
        return
    broker = EmbeddedBroker(log_path=log_dir / "broker.log").start()
    try:
        # Quick group joins and failure detection on one machine.
        yield broker.settings(
            partitions=config.partitions, session_timeout_ms=6_000, heartbeat_interval_ms=1_000
        )
    finally:
        broker.stop()


def sign_in_link(url: str, key: str, job_id: str | None = None) -> str:
    """The review app's sign-in link: the key rides in the URL fragment, which the browser
    never sends to a server (so no access log holds it); the app moves it to the tab's session
    storage and clears the address bar."""
    fragment = f"key={quote(key, safe='')}"
    if job_id is not None:
        fragment += f"&job={quote(job_id, safe='')}"
    return f"{url}/#{fragment}"


async def run_stack(config: StackConfig, output: TextIO) -> int:
    dev_key = config.dev_key or new_key()  # what `avocado keys new` prints
    config.state_dir.mkdir(parents=True, exist_ok=True)
    with broker_for(config, config.state_dir) as kafka:
        app_id = "talkavocado-orchestrator"
        await ensure_topics(
            kafka, orchestrator_topics(kafka, app_id), configs=orchestrator_topic_configs(app_id)
        )
        specs = service_specs(kafka, config, dev_key)
        supervisor = Supervisor(
            specs,
            output=output,
            grace_seconds=SUPERVISOR_GRACE_SECONDS,
        )
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, supervisor.stop)
        runner = asyncio.create_task(supervisor.run())
        url = f"http://127.0.0.1:{config.port}"
        if await wait_ready(specs, supervisor.stopping, output):
            output.write(
                f"\navocado: the stack is up (Kafka at {kafka.bootstrap_servers}).\n"
                f"  API:      {url}   (docs: {url}/docs)\n"
                f"  tenant:   {DEV_TENANT}\n"
                f"  dev key:  {dev_key}\n"
                f"  sign in:  {sign_in_link(url, dev_key)}\n"
                f"  try:      AVOCADO_API_KEY={dev_key} avocado submit talk.mp4 --api {url} --wait\n"
                "Ctrl-C stops everything.\n\n"
            )
            output.flush()
        await runner
    return 0

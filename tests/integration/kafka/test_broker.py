"""The embedded Tansu broker: starts on a free port, answers, stops cleanly."""

from __future__ import annotations

from pathlib import Path

import pytest

from talkavocado_common.kafka import BrokerError, EmbeddedBroker
from talkavocado_common.kafka.broker import probe, probe_sync


def test_plain_start_and_stop(tmp_path: Path) -> None:
    broker = EmbeddedBroker(log_path=tmp_path / "tansu.log")
    broker.start()
    try:
        assert broker.running
        assert probe_sync(broker.host, broker.port)
        assert broker.settings().idempotence is False
        assert broker.settings().bootstrap_servers == broker.bootstrap_servers
    finally:
        broker.stop()
    assert not broker.running
    assert not probe_sync(broker.host, broker.port, timeout=0.3)
    assert "tansu" in (tmp_path / "tansu.log").read_text().lower()
    assert broker.stop() is None  # stopping twice is harmless


async def test_async_context_manager() -> None:
    async with EmbeddedBroker() as broker:
        assert await probe(broker.host, broker.port)
        port = broker.port
    assert not await probe("127.0.0.1", port, wait=0.3)


def test_missing_binary_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(BrokerError, match="could not run"):
        EmbeddedBroker(binary=str(tmp_path / "no-tansu")).start()


def test_a_binary_that_exits_is_reported_with_its_log(tmp_path: Path) -> None:
    with pytest.raises(BrokerError, match="exited"):
        EmbeddedBroker(binary="/bin/false", port=1, startup_timeout=2).start()

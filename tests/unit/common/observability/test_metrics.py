"""The consumer-lag gauge: values per partition, partitions that moved away removed, a failed
refresh keeps the last values."""

from __future__ import annotations

import asyncio
from collections import namedtuple
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest

from talkavocado_common.observability import CONSUMER_LAG, LagReporter, consumer_lag_gauge
from talkavocado_common.observability.metrics import refresh_lag, refresh_lag_forever

TP = namedtuple("TP", "topic partition")


def scrape(registry: CollectorRegistry) -> str:
    return generate_latest(registry).decode()


def sample(topic: str, partition: int, value: float) -> str:
    return f'{CONSUMER_LAG}{{partition="{partition}",service="audio",topic="{topic}"}} {value}'


async def test_lag_per_partition_and_moved_partitions_removed() -> None:
    registry = CollectorRegistry()
    reporter = LagReporter(consumer_lag_gauge(registry), "audio")
    reporter.report({TP("t.steps.audio", 0): 3, TP("t.steps.audio", 1): 0})
    text = scrape(registry)
    assert sample("t.steps.audio", 0, 3.0) in text
    assert sample("t.steps.audio", 1, 0.0) in text
    reporter.report({TP("t.steps.audio", 1): 5, TP("t.steps.audio", 2): -4})
    text = scrape(registry)
    assert 'partition="0"' not in text
    assert sample("t.steps.audio", 1, 5.0) in text
    assert sample("t.steps.audio", 2, 0.0) in text  # never negative
    reporter.clear()
    assert "partition=" not in scrape(registry)


async def test_a_failed_refresh_keeps_the_last_values() -> None:
    registry = CollectorRegistry()
    reporter = LagReporter(consumer_lag_gauge(registry), "audio")

    async def good() -> dict[Any, int]:
        return {TP("x", 0): 7}

    async def broken() -> dict[Any, int]:
        raise ConnectionError("broker away")

    async def stuck() -> dict[Any, int]:
        await asyncio.sleep(10)
        return {}

    assert await refresh_lag(good, reporter) is True
    assert await refresh_lag(broken, reporter) is False
    assert await refresh_lag(stuck, reporter, within=0.05) is False
    assert sample("x", 0, 7.0) in scrape(registry)


async def test_refreshed_periodically_until_cancelled() -> None:
    registry = CollectorRegistry()
    reporter = LagReporter(consumer_lag_gauge(registry), "audio")
    calls = 0

    async def fetch() -> dict[Any, int]:
        nonlocal calls
        calls += 1
        return {TP("x", 0): calls}

    task = asyncio.create_task(refresh_lag_forever(fetch, reporter, interval=0.02))
    await asyncio.sleep(0.2)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert calls >= 3
    assert sample("x", 0, float(calls)) in scrape(registry)

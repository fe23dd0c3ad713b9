"""Metric helpers shared by the services: the consumer-lag gauge and its refresher."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Gauge

log = logging.getLogger(__name__)

CONSUMER_LAG = "talkavocado_consumer_lag"
CONSUMER_LAG_HELP = (
    "Records of an assigned partition the consumer group has not committed yet "
    "(end offset minus committed offset), refreshed periodically."
)

LagFetch = Callable[[], Awaitable[Mapping[Any, int]]]


def consumer_lag_gauge(registry: CollectorRegistry | None = None) -> Gauge:
    return Gauge(
        CONSUMER_LAG,
        CONSUMER_LAG_HELP,
        ["service", "topic", "partition"],
        registry=registry if registry is not None else REGISTRY,
    )


class LagReporter:
    """Writes {TopicPartition: lag} into the gauge; partitions no longer reported are removed
    (they moved to another member, whose own gauge reports them)."""

    def __init__(self, gauge: Gauge, service: str) -> None:
        self.gauge = gauge
        self.service = service
        self._shown: set[tuple[str, str]] = set()

    def report(self, lags: Mapping[Any, int]) -> None:
        now: set[tuple[str, str]] = set()
        for tp, lag in lags.items():
            key = (str(tp.topic), str(tp.partition))
            now.add(key)
            self.gauge.labels(self.service, *key).set(max(0, int(lag)))
        for key in self._shown - now:
            with contextlib.suppress(KeyError):
                self.gauge.remove(self.service, *key)
        self._shown = now

    def clear(self) -> None:
        self.report({})


async def refresh_lag(fetch: LagFetch, reporter: LagReporter, *, within: float = 5.0) -> bool:
    """One refresh; False (and the previous values kept) when the broker did not answer."""
    try:
        async with asyncio.timeout(within):
            lags = await fetch()
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # the broker is away or the group is rebalancing: try again later
        log.debug("consumer lag not refreshed: %s", exc)
        return False
    reporter.report(lags)
    return True


async def refresh_lag_forever(
    fetch: LagFetch, reporter: LagReporter, *, interval: float, within: float = 5.0
) -> None:
    """Refresh every `interval` seconds until cancelled (a task of its own: the poll loop is
    never held up by it)."""
    while True:
        await refresh_lag(fetch, reporter, within=min(within, max(interval, 0.5)))
        await asyncio.sleep(interval)

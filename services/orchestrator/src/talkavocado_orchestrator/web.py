"""The pages of faust's web server: /healthz, /readyz and /metrics (the process's default
Prometheus registry: the counters of metrics.py, jobs by status from the table and the consumer
lag of the agent's input topics, both refreshed on each scrape)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Mapping
from typing import Protocol

import faust
from faust.types.tuples import TP
from faust.web import Request, Response, View
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from talkavocado_common.kafka.offsets import partition_lags
from talkavocado_common.observability.metrics import refresh_lag

from .faust_adapter import committed_offsets, table_recovered
from .metrics import OrchestratorMetrics

PageHandler = Callable[[View, Request], Awaitable[Response]]


class LagConsumer(Protocol):
    """What consumer_lag reads of faust's consumer (besides its committed offsets)."""

    def assignment(self) -> set[TP]: ...

    async def highwaters(self, *partitions: TP) -> Mapping[TP, int]: ...

    async def earliest_offsets(self, *partitions: TP) -> Mapping[TP, int]: ...


async def consumer_lag(consumer: LagConsumer, topics: Collection[str]) -> dict[TP, int]:
    """End offset minus committed offset of the assigned partitions of `topics` (the agent's
    inputs; the table's changelog is only read at recovery and never committed)."""
    tps = sorted(
        (tp for tp in consumer.assignment() if tp.topic in topics),
        key=lambda tp: (tp.topic, tp.partition),
    )
    if not tps:
        return {}
    ends = await consumer.highwaters(*tps)
    committed = committed_offsets(consumer)
    never = [tp for tp in tps if committed.get(tp) is None]
    starts: Mapping[TP, int] = await consumer.earliest_offsets(*never) if never else {}
    return partition_lags(tps, ends, committed, starts)


class Pages:
    """The pages' handlers. `rows` is the job-state table (job id → JSON row)."""

    def __init__(
        self,
        app: faust.App,
        rows: Mapping[str, str],
        metrics: OrchestratorMetrics,
        input_topics: Collection[str],
        lag_timeout: float,
    ) -> None:
        self.app = app
        self.rows = rows
        self.metrics = metrics
        self.input_topics = frozenset(input_topics)
        self.lag_timeout = lag_timeout

    async def healthz(self, web: View, request: Request) -> Response:
        return web.json({"status": "ok"})

    async def readyz(self, web: View, request: Request) -> Response:
        # Not ready while the job-state table is restored from its changelog or partitions
        # are being reassigned: events wait until then.
        recovered = table_recovered(self.app)
        ready = recovered and not self.app.rebalancing
        body = {"ready": ready, "recovered": recovered, "rebalancing": bool(self.app.rebalancing)}
        return web.json(body, status=200 if ready else 503)

    async def metrics_page(self, web: View, request: Request) -> Response:
        self.metrics.count_jobs(list(self.rows.values()))
        await refresh_lag(self.lag, self.metrics.lag, within=self.lag_timeout)
        # aiohttp refuses a charset inside `content_type`: the full type goes in as a header.
        return web.bytes(
            generate_latest(self.metrics.registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )

    async def lag(self) -> dict[TP, int]:
        return await consumer_lag(self.app.consumer, self.input_topics)


def view_handler(handler: PageHandler) -> PageHandler:
    """`handler` as a plain function: faust makes a page's function the `get` method of a View
    class, called with the view and the request (a bound method would not get the view)."""

    async def get(web: View, request: Request) -> Response:
        return await handler(web, request)

    return get


def add_pages(app: faust.App, pages: Pages) -> None:
    """Serve /healthz, /readyz and /metrics from `pages`."""
    for path, name, handler in (
        ("/healthz", "healthz", pages.healthz),
        ("/readyz", "readyz", pages.readyz),
        ("/metrics", "metrics", pages.metrics_page),
    ):
        app.page(path, name=name)(view_handler(handler))

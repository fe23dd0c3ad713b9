"""Follow a job's status: its current status first, then each change as the pipeline reports
it, until a terminal one. Typed items; the HTTP layer frames them as Server-Sent Events."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass

import anyio

from talkavocado_common.events import CloudEvent, JobStatusChanged
from talkavocado_common.events.models import StepError
from talkavocado_common.models import JobStatus, Manifest
from talkavocado_common.storage import JobKeys

from ..ports import StatusFeed
from ..settings import ApiSettings
from .common import TERMINAL, JobStore, RequestContext, job_event, log


@dataclass(frozen=True)
class StatusUpdate:
    """A `job.status-changed` event: the current status, or a change the pipeline reported."""

    event: CloudEvent


@dataclass(frozen=True)
class KeepAlive:
    """Nothing happened for a while; the stream is still alive."""


StreamItem = StatusUpdate | KeepAlive

_Queue = asyncio.Queue[CloudEvent | None]  # None: the feed ended


def current_status(ctx: RequestContext, manifest: Manifest) -> CloudEvent:
    """The manifest's status as a `job.status-changed` event."""
    error = manifest.error
    payload = JobStatusChanged(
        job_id=manifest.job_id,
        tenant_id=manifest.tenant_id,
        env=manifest.env,
        status=manifest.status,
        progress=1.0 if manifest.status == JobStatus.COMPLETED else 0.0,
        message="current status",
        error=StepError(code=error.code, message=error.message) if error else None,
    )
    return job_event(ctx, "job.status-changed", payload)


def _reported_status(event: CloudEvent) -> JobStatus | None:
    """The status a feed event reports for the job (None if it reports none it can use)."""
    try:
        return JobStatus(str(event.data.get("status")))
    except ValueError:
        return None


def _is_status_of(event: CloudEvent, job_id: str) -> bool:
    return event.type == "job.status-changed" and event.subject == job_id


async def _pump(subscription: AsyncIterator[CloudEvent], queue: _Queue, job_id: str) -> None:
    try:
        async for event in subscription:
            queue.put_nowait(event)
    except Exception as exc:  # the stream ends; the client reconnects
        log.warning("status feed of job %s failed: %s", job_id, exc)
    finally:
        queue.put_nowait(None)


class StatusStream:
    def __init__(self, settings: ApiSettings, *, jobs: JobStore, feed: StatusFeed) -> None:
        self.settings = settings
        self.jobs = jobs
        self.feed = feed

    async def open(self, ctx: RequestContext, job_id: str) -> AsyncGenerator[StreamItem, None]:
        """JobNotFound unless the job exists; then its items. Nothing is subscribed until the
        first item is asked for, and the subscription ends with the iteration."""
        keys = self.jobs.keys(ctx, job_id)
        await self.jobs.load(keys)  # not found before the stream starts
        return self._follow(ctx, keys)

    async def _follow(self, ctx: RequestContext, keys: JobKeys) -> AsyncGenerator[StreamItem, None]:
        # First subscribe, then read the manifest: nothing in between is lost.
        subscription = self.feed.subscribe(keys.job_id)
        queue: _Queue = asyncio.Queue()
        pump_task = asyncio.create_task(_pump(subscription, queue, keys.job_id))
        try:
            async with aclosing(self._items(ctx, keys, queue)) as items:
                async for item in items:
                    yield item
        finally:
            pump_task.cancel()
            close = getattr(subscription, "aclose", None)
            with anyio.CancelScope(shield=True):
                if close is not None:
                    await close()
                await asyncio.gather(pump_task, return_exceptions=True)

    async def _items(
        self, ctx: RequestContext, keys: JobKeys, queue: _Queue
    ) -> AsyncGenerator[StreamItem, None]:
        manifest = await self.jobs.load(keys)
        yield StatusUpdate(current_status(ctx, manifest))
        last = manifest.status
        while last not in TERMINAL:
            try:
                event = await asyncio.wait_for(
                    queue.get(), timeout=self.settings.sse_keepalive_seconds
                )
            except TimeoutError:
                # A missed event must not leave the client waiting forever: re-read.
                manifest = await self.jobs.load(keys)
                if manifest.status != last:
                    last = manifest.status
                    yield StatusUpdate(current_status(ctx, manifest))
                if last not in TERMINAL:
                    yield KeepAlive()
                continue
            if event is None:
                return  # the feed ended
            if _is_status_of(event, keys.job_id):
                yield StatusUpdate(event)
                reported = _reported_status(event)
                if reported is not None:
                    last = reported

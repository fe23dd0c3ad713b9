"""SSE framing: a status update is one event on one data line; a keep-alive a comment line."""

from __future__ import annotations

from collections.abc import AsyncGenerator

from talkavocado_api.routes.sse import KEEP_ALIVE, sse_frame, sse_frames
from talkavocado_api.usecases.stream import KeepAlive, StatusUpdate, StreamItem
from talkavocado_common.events import CloudEvent, JobRetryRequested, new_event


def an_event(correlation_id: str = "c") -> CloudEvent:
    return new_event(
        "job.retry-requested",
        JobRetryRequested(job_id="j1", tenant_id="t", env="e"),
        source="s",
        subject="j1",
        tenant_id="t",
        correlation_id=correlation_id,
    )


def test_sse_frame_is_one_event_on_one_data_line() -> None:
    event = an_event("c\nfake: header")
    frame = sse_frame(event)
    assert frame.startswith(f"id: {event.id}\nevent: job.retry-requested\ndata: {{")
    assert frame.endswith("}\n\n")
    assert frame.count("\n") == 4


async def test_items_become_frames_and_closing_the_text_closes_the_items() -> None:
    event = an_event()
    closed: list[bool] = []

    async def items() -> AsyncGenerator[StreamItem, None]:
        try:
            yield StatusUpdate(event)
            yield KeepAlive()
            yield StatusUpdate(event)
        finally:
            closed.append(True)

    text = sse_frames(items())
    assert isinstance(text, AsyncGenerator)
    assert [await anext(text), await anext(text)] == [sse_frame(event), KEEP_ALIVE]
    assert KEEP_ALIVE == ": keep-alive\n\n"
    await text.aclose()  # the client went away after two frames
    assert closed == [True]

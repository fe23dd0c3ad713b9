"""Server-Sent Events framing of a status stream: one `event:` frame per status update (its
`data:` the CloudEvent on one line), a comment line for each keep-alive."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing

from talkavocado_common.events import CloudEvent

from ..usecases.stream import StatusUpdate, StreamItem

KEEP_ALIVE = ": keep-alive\n\n"


def sse_frame(event: CloudEvent) -> str:
    body = event.model_dump_json(exclude_none=True)
    return f"id: {event.id}\nevent: {event.type}\ndata: {body}\n\n"


async def sse_frames(items: AsyncGenerator[StreamItem, None]) -> AsyncIterator[str]:
    """The text of the stream; closing it closes `items` (and so the subscription)."""
    async with aclosing(items):
        async for item in items:
            yield sse_frame(item.event) if isinstance(item, StatusUpdate) else KEEP_ALIVE

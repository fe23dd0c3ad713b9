"""One webhook call against a real socket on loopback: signed headers sent, a redirect not
followed, a receiver that does not answer in time is a timeout, a refused address never
connected to."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

from talkavocado_notify.core import signature
from talkavocado_notify.transport import Sender

SECRET = "whsec_" + "A" * 32

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@contextlib.asynccontextmanager
async def server(handler: Handler) -> AsyncIterator[tuple[str, list[bytes]]]:
    seen: list[bytes] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(await reader.readuntil(b"\r\n\r\n"))
        try:
            await handler(reader, writer)
        finally:
            writer.close()

    running = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = running.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}", seen
    finally:
        running.close()
        await running.wait_closed()


def answer(head: bytes) -> Handler:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(head)
        await writer.drain()

    return handler


async def test_a_signed_call_and_a_redirect_that_is_not_followed() -> None:
    redirect = answer(
        b"HTTP/1.1 302 Found\r\nLocation: http://10.0.0.1/\r\nContent-Length: 0\r\n\r\n"
    )
    sender = Sender(allow_private=True, timeout_seconds=5)
    try:
        async with server(redirect) as (url, seen):
            result = await sender.send(f"{url}/hook", SECRET, "msg_1", b'{"a":1}')
    finally:
        await sender.aclose()
    assert result.status_code == 302
    assert not result.ok
    assert len(seen) == 1  # one request: the Location was not followed
    head = seen[0].decode().lower()
    assert head.startswith("post /hook http/1.1")
    assert "webhook-id: msg_1" in head
    timestamp = next(line for line in head.splitlines() if line.startswith("webhook-timestamp:"))
    expected = signature(SECRET, "msg_1", int(timestamp.split(":")[1]), b'{"a":1}')
    assert f"webhook-signature: {expected}".lower() in head


async def test_no_answer_in_time_is_a_timeout() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # until the caller gives up and closes

    sender = Sender(allow_private=True, timeout_seconds=0.3)
    try:
        async with server(silent) as (url, _):
            result = await sender.send(url, SECRET, "msg_2", b"{}")
    finally:
        await sender.aclose()
    assert result.status_code is None
    assert result.error == "no answer within 0.3 s"
    assert not result.refused


async def test_a_refused_address_is_never_connected_to() -> None:
    sender = Sender(allow_private=False, timeout_seconds=5)
    try:
        async with server(answer(b"HTTP/1.1 204 No Content\r\n\r\n")) as (url, seen):
            result = await sender.send(url, SECRET, "msg_3", b"{}")
    finally:
        await sender.aclose()
    assert result.refused
    assert seen == []

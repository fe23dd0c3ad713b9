"""Sending one signed webhook call: httpx over a network backend that resolves the host itself,
checks every address against the address policy and connects only to an address it checked, so
a name that resolves elsewhere between a check and the connection (DNS rebinding) gains nothing.

No redirects are followed, no proxy from the environment is used, the response body is never
read, and the whole call has one time limit. TLS still verifies the certificate against the
host name (httpcore passes it as SNI after our TCP connect).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import httpcore
import httpx

from .core import AttemptResult, signed_headers
from .policy import first_refusal


class DestinationRefused(Exception):
    """The address policy refused where the host resolves to (or it resolves nowhere)."""


async def resolve(host: str, port: int) -> list[str]:
    """The addresses `host` resolves to (an IP literal is itself)."""
    try:
        return [str(ipaddress.ip_address(host.strip("[]")))]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's own backend, but every TCP connection goes to an address that passed the
    policy, resolved at connect time."""

    def __init__(self, *, allow_private: bool, resolver: Any = resolve) -> None:
        self.allow_private = allow_private
        self.resolver = resolver
        self.inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            addresses = await self.resolver(host, port)
        except OSError as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc
        reason = first_refusal(addresses, allow_private=self.allow_private)
        if reason is not None:
            raise DestinationRefused(f"destination {host} refused: {reason}")
        last: Exception | None = None
        for address in addresses:
            try:
                return await self.inner.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        assert last is not None
        raise last

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise DestinationRefused("unix sockets are not webhook destinations")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport over a connection pool that uses the GuardedBackend, keeps no idle
    connection (each call connects, and so is checked, anew) and ignores proxy settings."""

    def __init__(self, backend: GuardedBackend) -> None:
        super().__init__(trust_env=False, retries=0)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=256,
            max_keepalive_connections=0,
            network_backend=backend,
        )


def _now() -> datetime:
    return datetime.now(UTC)


class Sender:
    """POSTs signed deliveries; every outcome is an AttemptResult, never an exception."""

    def __init__(
        self, *, allow_private: bool, timeout_seconds: float, resolver: Any = resolve
    ) -> None:
        self.timeout_seconds = timeout_seconds
        self.client = httpx.AsyncClient(
            transport=GuardedTransport(
                GuardedBackend(allow_private=allow_private, resolver=resolver)
            ),
            follow_redirects=False,
            trust_env=False,
            timeout=httpx.Timeout(timeout_seconds),
        )

    async def aclose(self) -> None:
        await self.client.aclose()

    async def send(self, url: str, secret: str, message_id: str, body: bytes) -> AttemptResult:
        started = _now()
        headers = signed_headers(secret, message_id, int(time.time()), body)
        try:
            async with asyncio.timeout(self.timeout_seconds):
                status = await self._post(url, headers, body)
        except DestinationRefused as exc:
            return AttemptResult(started, _now(), error=str(exc), refused=True)
        except (TimeoutError, httpx.TimeoutException):
            return AttemptResult(
                started, _now(), error=f"no answer within {self.timeout_seconds:g} s"
            )
        except httpx.HTTPError as exc:
            return AttemptResult(started, _now(), error=f"{type(exc).__name__}: {exc}"[:500])
        except (httpx.InvalidURL, OSError, ValueError) as exc:  # an unusable URL, a socket error
            return AttemptResult(started, _now(), error=f"{type(exc).__name__}: {exc}"[:500])
        return AttemptResult(
            started,
            _now(),
            status_code=status,
            error=None if 200 <= status < 300 else f"HTTP {status}",
        )

    async def _post(self, url: str, headers: dict[str, str], body: bytes) -> int:
        request = self.client.build_request("POST", url, headers=headers, content=body)
        response = await self.client.send(request, stream=True)
        await response.aclose()  # the body is not ours to read
        return response.status_code

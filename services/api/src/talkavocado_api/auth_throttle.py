"""Failed authentications, throttled per client: pure bookkeeping, no I/O, no clock of its own.

A client (its IP address, as the ASGI server reports it) that sent `limit` wrong API keys within
`window` seconds gets 429 with `Retry-After` — without its key being checked — until the oldest
of those failures is `window` seconds old. A right key does not reset the count (a guesser who
also holds one key must not get to guess more), and requests without any key are not counted
(they guess nothing). Guessing a 128-bit key stays hopeless either way; the throttle bounds what
one client can try and what the key checks cost.

In-process: each API replica keeps its own counts (N replicas allow N x `limit` per window), and
a restart forgets them. Behind a reverse proxy the client address is the proxy's unless the ASGI
server is told to trust its forwarded headers (uvicorn's `--forwarded-allow-ips`), in which case
every client behind it shares one budget.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True)
class Blocked:
    """The client may try again after `retry_after` seconds (whole, at least 1)."""

    retry_after: int


class FailedAuthThrottle:
    """At most `limit` failed authentications per client within a sliding `window` (seconds).

    Memory: at most `limit` timestamps per client and at most `max_clients` clients; clients
    whose failures have all aged out are forgotten first, then the least recently failed.
    """

    def __init__(self, limit: int, window: float, *, max_clients: int = 10_000) -> None:
        if limit < 1 or window <= 0 or max_clients < 1:
            raise ValueError("the throttle needs limit >= 1, window > 0 and max_clients >= 1")
        self.limit = limit
        self.window = window
        self.max_clients = max_clients
        self._failures: dict[str, deque[float]] = {}

    def __len__(self) -> int:
        return len(self._failures)

    def blocked(self, client: str, now: float) -> Blocked | None:
        """Whether `client` must wait before its key is checked again, and for how long."""
        failures = self._recent(client, now)
        if failures is None or len(failures) < self.limit:
            return None
        wait = failures[0] + self.window - now
        return Blocked(max(1, math.ceil(wait)))

    def record_failure(self, client: str, now: float) -> None:
        """Count one wrong key from `client` at `now`."""
        failures = self._recent(client, now)
        if failures is None:
            if len(self._failures) >= self.max_clients:
                self._make_room(now)
            failures = self._failures[client] = deque(maxlen=self.limit)
        else:  # most recently failed last: the eviction order
            self._failures[client] = self._failures.pop(client)
        failures.append(now)

    def _recent(self, client: str, now: float) -> deque[float] | None:
        failures = self._failures.get(client)
        if failures is None:
            return None
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        if not failures:
            del self._failures[client]
            return None
        return failures

    def _make_room(self, now: float) -> None:
        for client in [c for c, f in self._failures.items() if f[-1] <= now - self.window]:
            del self._failures[client]
        while len(self._failures) >= self.max_clients:
            del self._failures[next(iter(self._failures))]

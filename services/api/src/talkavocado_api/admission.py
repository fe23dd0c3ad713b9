"""Admission control: how much work one API process takes on at once, as pure bookkeeping.

- `UploadSlots`: a bounded number of uploads in progress, per process and per tenant. Each
  upload holds one part of the S3 multipart upload in memory (`STORAGE_S3_PART_BYTES`), so the
  process total bounds the memory uploads can take; the per-tenant bound keeps one tenant from
  taking every slot.
- `RateLimiter`: a token bucket per tenant (`POST /jobs`): `burst` requests at once, then
  `rate_per_second` on average.

Nothing here does I/O or reads a clock of its own (the limiter is given one), so every decision
is unit-tested. The budgets live in this process: with N replicas of the API, each has its own.
A refusal says when to come back (`Refusal.retry_after`); the use cases turn it into their
`TooManyRequests` error, the HTTP layer into 429 with `Retry-After`.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass(frozen=True)
class Refusal:
    """Why a request is not admitted now, and the seconds after which it may be (≥ 1)."""

    reason: str
    retry_after: int


def whole_seconds(seconds: float) -> int:
    """`Retry-After` takes whole seconds: rounded up (past float noise), and at least one."""
    return max(1, math.ceil(seconds - 1e-9))


class UploadSlots:
    """At most `total` uploads in progress, at most `per_tenant` of them for one tenant."""

    def __init__(self, total: int, per_tenant: int, *, retry_after: float = 10.0) -> None:
        if total < 1 or per_tenant < 1:
            raise ValueError("upload limits must be at least 1")
        self.total = total
        self.per_tenant = per_tenant
        self.retry_after = whole_seconds(retry_after)
        self._held: Counter[str] = Counter()

    def in_use(self, tenant: str | None = None) -> int:
        """Slots held: by `tenant`, or by everyone."""
        return self._held[tenant] if tenant is not None else self._held.total()

    def try_acquire(self, tenant: str) -> Refusal | None:
        """Take a slot for `tenant` (None), or say why not (nothing taken)."""
        if self._held.total() >= self.total:
            return Refusal(
                f"this server is busy with {self.total} uploads; try again shortly",
                self.retry_after,
            )
        if self._held[tenant] >= self.per_tenant:
            return Refusal(
                f"at most {self.per_tenant} uploads per tenant may run at once; "
                "try again when one has finished",
                self.retry_after,
            )
        self._held[tenant] += 1
        return None

    def release(self, tenant: str) -> None:
        if self._held[tenant] <= 0:
            raise RuntimeError(f"tenant {tenant!r} holds no upload slot")
        self._held[tenant] -= 1
        if not self._held[tenant]:
            del self._held[tenant]

    @contextmanager
    def holding(self, tenant: str) -> Iterator[None]:
        """Hold a slot already taken with `try_acquire` until the block ends, however it ends
        (release has no await, so even a cancelled request gives its slot back)."""
        try:
            yield
        finally:
            self.release(tenant)


@dataclass
class TokenBucket:
    """`burst` tokens at most, refilled at `rate` per second; one request takes one token."""

    rate: float
    burst: float
    tokens: float
    updated: float

    def take(self, now: float) -> float:
        """0.0 if a token was taken, else the seconds until one will be there."""
        elapsed = max(0.0, now - self.updated)
        self.tokens = min(self.burst, self.tokens + elapsed * self.rate)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate

    def full_at(self, now: float) -> bool:
        """Would the bucket be full now (so forgetting it changes nothing)?"""
        return self.tokens + max(0.0, now - self.updated) * self.rate >= self.burst


class RateLimiter:
    """One token bucket per key (a tenant). Full buckets are forgotten once there are more than
    `max_keys`, so memory follows the tenants active recently, not every tenant ever seen."""

    def __init__(
        self,
        rate_per_second: float,
        burst: int,
        *,
        what: str = "requests",
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 10_000,
    ) -> None:
        if rate_per_second <= 0 or burst < 1:
            raise ValueError("a rate limit needs a positive rate and a burst of at least 1")
        self.rate = rate_per_second
        self.burst = burst
        self.what = what
        self.clock = clock
        self.max_keys = max_keys
        self._buckets: dict[str, TokenBucket] = {}

    def __len__(self) -> int:
        return len(self._buckets)

    def check(self, key: str) -> Refusal | None:
        """Count one request of `key`: None if admitted, else a refusal with its wait."""
        now = self.clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self.max_keys:
                self._forget_full(now)
            bucket = TokenBucket(self.rate, self.burst, float(self.burst), now)
            self._buckets[key] = bucket
        wait = bucket.take(now)
        if wait == 0.0:
            return None
        per_minute = self.rate * 60
        return Refusal(
            f"too many {self.what}: at most {self.burst} at once and {per_minute:g} per minute; "
            f"try again in {whole_seconds(wait)} s",
            whole_seconds(wait),
        )

    def _forget_full(self, now: float) -> None:
        for key in [k for k, b in self._buckets.items() if b.full_at(now)]:
            del self._buckets[key]

"""Carrying out a command until it succeeds: the agent must not move past an event whose
commands are not all carried out (storage down, disk full, a manifest conflict), or the job
would wait forever. The wait between attempts follows backoff.py and ends early, with
`Abandoned`, when the event is no longer this worker's to finish (a rebalance took the
partition, or the app is stopping): the event then stays unacknowledged and is delivered
again, to this worker or the partition's new owner."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable

from .backoff import Backoff, backoff_delay
from .metrics import OrchestratorMetrics

log = logging.getLogger(__name__)

Proceed = Callable[[], bool]


class Abandoned(Exception):
    """The event's commands were given up for now: it must not be acknowledged."""


def _always() -> bool:
    return True


class Retry:
    """Runs an action until it succeeds, waiting `policy`'s backoff between attempts.

    `proceed` says whether the event in hand is still this worker's to finish; it is checked
    every `poll` seconds while waiting, so a stop or a rebalance is not held up by a long wait.
    """

    def __init__(
        self,
        policy: Backoff,
        metrics: OrchestratorMetrics,
        *,
        proceed: Proceed = _always,
        draw: Callable[[], float] = random.random,
        poll: float = 0.1,
    ) -> None:
        self.policy = policy
        self.metrics = metrics
        self.proceed = proceed
        self.draw = draw
        self.poll = poll

    async def run(self, what: str, action: Callable[[], Awaitable[None]]) -> None:
        """`action()` until it returns; raises Abandoned when the wait is cut short."""
        retry = 0
        while True:
            if not self.proceed():
                raise Abandoned(what)
            try:
                await action()
            except Exception as exc:  # anything: the alternative is losing the event
                retry += 1
                delay = backoff_delay(self.policy, retry, self.draw())
                self.metrics.command_retries.labels(what).inc()
                log.warning(
                    "%s failed (%s: %s); retry %d in %.2f s",
                    what,
                    type(exc).__name__,
                    exc,
                    retry,
                    delay,
                )
            else:
                if retry:
                    log.info("%s carried out after %d retries", what, retry)
                return
            # Outside the except block, so the traceback (the event's frames) is not kept alive
            # while waiting.
            await self.wait(delay)

    async def wait(self, seconds: float) -> None:
        """Sleep `seconds`, in slices of `poll`; Abandoned as soon as `proceed()` is false."""
        until = time.monotonic() + seconds
        while (left := until - time.monotonic()) > 0:
            if not self.proceed():
                raise Abandoned("stopped while waiting to retry")
            await asyncio.sleep(min(left, self.poll))

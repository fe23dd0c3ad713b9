"""How long the agent waits before carrying out a failed command again (pure: the caller draws
the random number, so a test can pin it)."""

from __future__ import annotations

from dataclasses import dataclass

# 2.0 ** 60 times any sane initial delay is far past any cap; a larger exponent would only
# risk OverflowError after days of retrying.
_MAX_EXPONENT = 60


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff: `initial` seconds, times `multiplier` per retry, at most `cap`;
    the top `jitter` share of each delay is drawn at random so replicas that failed together
    (storage down for everyone) do not retry in lockstep."""

    initial: float = 0.2
    cap: float = 30.0
    multiplier: float = 2.0
    jitter: float = 0.5

    def __post_init__(self) -> None:
        if not (0 < self.initial <= self.cap):
            raise ValueError("backoff needs 0 < initial <= cap")
        if self.multiplier < 1:
            raise ValueError("backoff multiplier must be >= 1")
        if not (0 <= self.jitter <= 1):
            raise ValueError("backoff jitter must be within [0, 1]")


def backoff_delay(policy: Backoff, retry: int, draw: float) -> float:
    """Seconds to wait before retry number `retry` (1 = the first retry); `draw` is uniform in
    [0, 1). The delay lies in [(1 - jitter) * base, base], base = min(cap, initial * m^(retry-1))."""
    if retry < 1:
        raise ValueError("retry counts from 1")
    base = min(policy.cap, policy.initial * policy.multiplier ** min(retry - 1, _MAX_EXPONENT))
    return base * (1 - policy.jitter * (1 - draw))

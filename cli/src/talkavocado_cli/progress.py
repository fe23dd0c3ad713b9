"""Per-step progress on stderr: a redrawn bar on a terminal, plain lines otherwise (CI, logs)."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from talkavocado_common.step_runner import StepOutcome

_BAR = 24


class TerminalProgress:
    def __init__(self, stream: TextIO | None = None, *, quiet: bool = False) -> None:
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self.tty = self.stream.isatty()
        self._label = ""
        self._last_draw = 0.0
        self._last_fraction = -1.0

    def _write(self, text: str) -> None:
        if not self.quiet:
            self.stream.write(text)
            self.stream.flush()

    def step_started(self, index: int, total: int, name: str, attempt: int) -> None:
        again = f" (attempt {attempt})" if attempt > 1 else ""
        self._label = f"[{index}/{total}] {name}{again}"
        self._last_fraction = -1.0
        if self.tty:
            self._draw(0.0, "")
        else:
            self._write(f"{self._label} ...\n")

    def step_progress(self, fraction: float, message: str = "") -> None:
        fraction = min(1.0, max(0.0, fraction))
        now = time.monotonic()
        if self.tty and (now - self._last_draw > 0.1 or fraction >= 1.0):
            self._draw(fraction, message)
        elif not self.tty and fraction - self._last_fraction >= 0.25 and fraction < 1.0:
            self._last_fraction = fraction
            self._write(f"{self._label} {fraction:4.0%} {message}\n")

    def _draw(self, fraction: float, message: str) -> None:
        self._last_draw = time.monotonic()
        filled = round(fraction * _BAR)
        bar = "#" * filled + "-" * (_BAR - filled)
        self._write(f"\r\x1b[2K{self._label:<34} [{bar}] {fraction:4.0%} {message[:40]}")

    def step_finished(self, name: str, outcome: StepOutcome) -> None:
        status = "done" if outcome.ok else f"FAILED {outcome.error}"
        line = f"{self._label:<34} {status} ({outcome.seconds:.1f} s)"
        self._write(f"\r\x1b[2K{line}\n" if self.tty else f"{line}\n")

    def retrying(self, name: str, delay: float, reason: str) -> None:
        self._write(f"{name}: retrying in {delay:.1f} s after {reason}\n")

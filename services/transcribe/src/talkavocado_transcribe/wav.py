"""The audio step's 16 kHz mono s16 WAV, read a stretch at a time (never whole)."""

from __future__ import annotations

import wave
from pathlib import Path
from types import TracebackType

import numpy as np
import numpy.typing as npt

from talkavocado_common.models import ErrorCode
from talkavocado_common.steps import StepError

SAMPLE_RATE = 16_000


class WavReader:
    """Float32 samples in [-1, 1) of any stretch of the WAV, read from disk on demand."""

    def __init__(self, path: Path, *, what: str) -> None:
        try:
            # Held open across calls (closed by close/__exit__): windows are read on demand.
            self._reader = wave.open(str(path), "rb")  # noqa: SIM115
        except (wave.Error, EOFError, OSError) as exc:
            raise StepError(
                ErrorCode.INPUT_INVALID, f"The audio {what} is not a readable WAV file."
            ) from exc
        layout = (
            self._reader.getnchannels(),
            self._reader.getsampwidth(),
            self._reader.getframerate(),
        )
        if layout != (1, 2, SAMPLE_RATE):
            self._reader.close()
            raise StepError(
                ErrorCode.INPUT_INVALID,
                f"The audio {what} is not 16 kHz mono 16-bit PCM "
                f"(channels, bytes per sample, rate: {layout}).",
            )
        self.samples = self._reader.getnframes()

    @property
    def duration(self) -> float:
        return self.samples / SAMPLE_RATE

    def read(self, start: int, count: int) -> npt.NDArray[np.float32]:
        """Samples [start, start + count), fewer at the end of the file."""
        start = min(max(0, start), self.samples)
        self._reader.setpos(start)
        raw = self._reader.readframes(max(0, min(count, self.samples - start)))
        return np.frombuffer(raw, dtype="<i2").astype(np.float32) / np.float32(32768.0)

    def read_seconds(self, start: float, end: float) -> npt.NDArray[np.float32]:
        first = round(start * SAMPLE_RATE)
        return self.read(first, round(end * SAMPLE_RATE) - first)

    def close(self) -> None:
        self._reader.close()

    def __enter__(self) -> WavReader:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

"""Silero VAD (v6, shipped in faster-whisper's assets) over the WAV, one block at a time.

faster_whisper.vad.SileroVADModel wants the whole signal at once. The model is a recurrent net
fed 512-sample frames, each with the previous frame's last 64 samples as context; carrying that
state (h, c) and context from one block to the next gives exactly the probabilities of a
whole-signal run, so no speech is cut at a block boundary and no overlap is needed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np
import numpy.typing as npt
from faster_whisper.vad import get_vad_model

from .core.vad import DEFAULT_VAD, FRAME_SAMPLES, VadSettings, speech_stretches
from .wav import WavReader

CONTEXT_SAMPLES = 64
BLOCK_FRAMES = 1000  # 32 s of audio per model call


class Cancelled(Exception):
    """The run was abandoned (the stop event is set); raised between blocks."""


class StreamingVad:
    """Speech probabilities of consecutive blocks of one signal."""

    def __init__(self) -> None:
        self._session = get_vad_model().session
        self._h = np.zeros((1, 1, 128), dtype=np.float32)
        self._c = np.zeros((1, 1, 128), dtype=np.float32)
        self._context = np.zeros(CONTEXT_SAMPLES, dtype=np.float32)

    def probabilities(self, block: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """One per 512 samples of `block` (zero-padded to whole frames)."""
        if len(block) == 0:
            return np.zeros(0, dtype=np.float32)
        padded = np.pad(block, (0, -len(block) % FRAME_SAMPLES)).reshape(-1, FRAME_SAMPLES)
        contexts = np.concatenate([self._context[None, :], padded[:-1, -CONTEXT_SAMPLES:]])
        frames = np.concatenate([contexts, padded], axis=1)
        out, self._h, self._c = self._session.run(
            None, {"input": frames, "h": self._h, "c": self._c}
        )
        self._context = padded[-1, -CONTEXT_SAMPLES:].copy()
        probabilities: npt.NDArray[np.float32] = np.asarray(out, dtype=np.float32).reshape(-1)
        return probabilities


def detect_speech(
    reader: WavReader,
    settings: VadSettings = DEFAULT_VAD,
    *,
    stop: threading.Event | None = None,
    on_block: Callable[[float], None] | None = None,
) -> list[tuple[float, float]]:
    """Speech stretches (seconds) of the whole WAV; memory: one block plus one float per frame."""
    vad = StreamingVad()
    block = BLOCK_FRAMES * FRAME_SAMPLES
    parts: list[npt.NDArray[np.float32]] = []
    for first in range(0, reader.samples, block):
        if stop is not None and stop.is_set():
            raise Cancelled
        parts.append(vad.probabilities(reader.read(first, block)))
        if on_block is not None:
            on_block(min(reader.samples, first + block) / max(1, reader.samples))
    probabilities = np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)
    return speech_stretches(probabilities.tolist(), reader.samples, settings=settings)

"""Per-window levels of a mono recording, measured block by block.

The recording arrives in blocks of any size (a WAV read a few seconds at a time). A window that
straddles two blocks is completed from the tail carried over from the previous block, and every
window is measured on its own, so the levels are the same whatever the block size. Memory stays
at one block and one batch of windows (float32) plus the level arrays: 100 float32 numbers a
second for each measure, about 3 MB an hour.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Float32Array = npt.NDArray[np.float32]
# Levels in dB. float32 holds them to a few millionths of a dB, far below anything measured.
LevelArray = npt.NDArray[np.float32]

# Below this a level carries no information: int16 audio cannot go lower than about -101 dBFS
# (dithered silence) and digital zero would be -inf, which JSON cannot hold.
LEVEL_FLOOR_DB = -100.0
INT16_FULL_SCALE = 32768.0
PRESENCE_BAND_HZ = (2000.0, 8000.0)
# Windows per numpy batch: bounds the memory the frames and spectra take (about 2.5 MB each).
WINDOWS_PER_BATCH = 2048


def to_unit_float(samples: npt.NDArray[np.generic]) -> Float32Array:
    """Samples scaled to [-1, 1] as float32: integers are taken as int16 (exact in float32),
    floats as they are."""
    array = as_mono(samples)
    if np.issubdtype(array.dtype, np.integer):
        return array.astype(np.float32) / np.float32(INT16_FULL_SCALE)
    return array.astype(np.float32)


def as_mono(samples: npt.NDArray[np.generic]) -> npt.NDArray[np.generic]:
    array = np.asarray(samples)
    if array.ndim != 1:
        raise ValueError(f"expected mono samples (1-D), got shape {array.shape}")
    return array


@dataclass(frozen=True)
class WindowGeometry:
    """Analysis windows in samples: `window` long, one every `hop`."""

    sample_rate: int
    hop: int
    window: int

    @classmethod
    def of(cls, sample_rate: int, window_ms: int, hop_ms: int) -> WindowGeometry:
        if sample_rate <= 0:
            raise ValueError(f"sample rate must be positive, got {sample_rate}")
        hop = max(1, round(sample_rate * hop_ms / 1000))
        return cls(sample_rate, hop, hop * (window_ms // hop_ms))


def window_count(sample_count: int, hop: int, window: int) -> int:
    """Windows starting every hop while a whole window fits; one when the audio is shorter."""
    if sample_count == 0:
        return 0
    return max(1, -(-(sample_count - window) // hop) + 1)


def power_to_db(mean_square: npt.NDArray[np.floating]) -> LevelArray:
    with np.errstate(divide="ignore"):
        levels = 10.0 * np.log10(mean_square.astype(np.float64))
    return np.maximum(levels, LEVEL_FLOOR_DB).astype(np.float32)


@dataclass(frozen=True)
class PresenceBand:
    """The 2-8 kHz band of a frame size: its bins, Hann taper and power scale."""

    first_bin: int
    end_bin: int
    taper: Float32Array
    scale: float

    @classmethod
    def of(cls, size: int, sample_rate: int) -> PresenceBand | None:
        """None when the rate (or so short a frame) cannot hold the band."""
        low, high = PRESENCE_BAND_HZ
        high = min(high, sample_rate / 2)
        bins = np.fft.rfftfreq(size, 1 / sample_rate)
        inside = np.flatnonzero((bins >= low) & (bins < high))
        if not len(inside):
            return None
        taper = np.hanning(size)
        # Parseval with a taper: mean square of the band = 2·Σ|X_k|² over its bins / (N·Σw²).
        scale = 2.0 / (size * float(np.sum(np.square(taper))))
        return cls(int(inside[0]), int(inside[-1]) + 1, taper.astype(np.float32), scale)

    def levels_db(self, frames: Float32Array) -> LevelArray:
        """Band level (dBFS) of each row of `frames`."""
        spectra = np.fft.rfft(frames * self.taper, axis=1)[:, self.first_bin : self.end_bin]
        return power_to_db(self.scale * np.sum(np.square(np.abs(spectra)), axis=1))


@dataclass(frozen=True)
class Levels:
    """What the meter measured: broadband and presence-band level per window (dBFS)."""

    broadband_db: LevelArray
    # None when the sample rate cannot hold the presence band.
    presence_db: LevelArray | None
    sample_count: int
    geometry: WindowGeometry


class LevelMeter:
    """Feeds on blocks of samples, returns the levels of every window when finished.

    Rectangular windows for the broadband RMS: a quiet window means every sample in it is
    quiet, which keeps the edges of a silence exact to the hop. Padding past the end counts as
    digital silence; audio shorter than one window is measured over what there is.
    """

    def __init__(self, geometry: WindowGeometry) -> None:
        self._geometry = geometry
        self._band = PresenceBand.of(geometry.window, geometry.sample_rate)
        # The samples from the start of the next window on (always shorter than a window).
        self._carry: Float32Array = np.empty(0, dtype=np.float32)
        self._sample_count = 0
        self._broadband: list[LevelArray] = []
        self._presence: list[LevelArray] = []

    @property
    def carried_samples(self) -> int:
        """Samples held between blocks: always fewer than one window."""
        return len(self._carry)

    def feed(self, block: npt.NDArray[np.generic]) -> None:
        samples = as_mono(block)
        self._sample_count += len(samples)
        hop, window = self._geometry.hop, self._geometry.window
        # Converted a batch at a time: no float copy of the whole block.
        step = WINDOWS_PER_BATCH * hop
        for start in range(0, len(samples), step):
            buffer = np.concatenate((self._carry, to_unit_float(samples[start : start + step])))
            complete = (len(buffer) - window) // hop + 1 if len(buffer) >= window else 0
            if complete:
                self._measure(buffer[: (complete - 1) * hop + window])
            self._carry = buffer[complete * hop :].copy()

    def finish(self) -> Levels:
        """The levels of all windows fed, the last one zero-padded past the end. Call once."""
        geometry, carry, count = self._geometry, self._carry, self._sample_count
        if 0 < count < geometry.window:
            band = PresenceBand.of(count, geometry.sample_rate)
            return Levels(
                power_to_db(np.array([np.mean(np.square(carry, dtype=np.float64))])),
                None if band is None else band.levels_db(carry[np.newaxis, :]),
                count,
                geometry,
            )
        if len(carry) > geometry.window - geometry.hop:
            # A final window reaching past the end: the windows cover every sample.
            padding = np.zeros(geometry.window - len(carry), dtype=np.float32)
            self._measure(np.concatenate((carry, padding)))
            self._carry = carry[:0]
        # One measure at a time, its batches let go as soon as they are joined.
        broadband = np.concatenate(self._broadband) if self._broadband else np.empty(0, np.float32)
        self._broadband = []
        presence = None
        if self._band is not None and count:
            presence = np.concatenate(self._presence)
        self._presence = []
        assert len(broadband) == window_count(count, geometry.hop, geometry.window)
        return Levels(broadband, presence, count, geometry)

    def _measure(self, samples: Float32Array) -> None:
        frames = np.lib.stride_tricks.sliding_window_view(samples, self._geometry.window)[
            :: self._geometry.hop
        ]
        self._broadband.append(power_to_db(np.mean(np.square(frames), axis=1)))
        if self._band is not None:
            self._presence.append(self._band.levels_db(frames))


def measure_levels(samples: npt.NDArray[np.generic], geometry: WindowGeometry) -> Levels:
    """The levels of a whole signal held in memory: the meter fed with one block."""
    meter = LevelMeter(geometry)
    meter.feed(samples)
    return meter.finish()

"""Synthetic test signals with known timing: voiced bursts, fricatives, room noise."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

RATE = 16_000
FloatArray = npt.NDArray[np.float64]


def db_to_rms(db: float) -> float:
    return float(10 ** (db / 20))


def rms_db(signal: FloatArray) -> float:
    return float(10 * np.log10(np.mean(np.square(signal))))


def scaled(signal: FloatArray, level_db: float) -> FloatArray:
    rms = float(np.sqrt(np.mean(np.square(signal))))
    return signal * (db_to_rms(level_db) / rms)


def voice(seconds: float, level_db: float = -18.0, *, f0: float = 140.0) -> FloatArray:
    """A vowel-like sound: harmonics of f0 up to 4 kHz falling at 6 dB/octave, with a syllable
    rhythm of 4 Hz that never drops to silence."""
    t = np.arange(round(seconds * RATE)) / RATE
    harmonics = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, int(4000 / f0)))
    envelope = 0.6 + 0.4 * np.sin(2 * np.pi * 4 * t) ** 2
    return scaled(np.asarray(harmonics * envelope, dtype=np.float64), level_db)


def hiss(seconds: float, level_db: float, *, seed: int, low_hz: float = 3000.0) -> FloatArray:
    """A fricative stand-in (an 's' or 'f'): noise above `low_hz` only."""
    rng = np.random.default_rng(seed)
    spectrum = np.fft.rfft(rng.standard_normal(round(seconds * RATE)))
    spectrum[np.fft.rfftfreq(round(seconds * RATE), 1 / RATE) < low_hz] = 0
    return scaled(np.fft.irfft(spectrum, round(seconds * RATE)), level_db)


def pink_noise(seconds: float, level_db: float, *, seed: int) -> FloatArray:
    """Room noise: equal energy per octave, most of it low-frequency."""
    count = round(seconds * RATE)
    rng = np.random.default_rng(seed)
    spectrum = np.fft.rfft(rng.standard_normal(count))
    freqs = np.fft.rfftfreq(count, 1 / RATE)
    spectrum[1:] /= np.sqrt(freqs[1:])
    spectrum[0] = 0
    return scaled(np.fft.irfft(spectrum, count), level_db)


def silence(seconds: float) -> FloatArray:
    return np.zeros(round(seconds * RATE))


def join(*parts: FloatArray) -> FloatArray:
    return np.concatenate(parts)


def to_int16(signal: FloatArray) -> npt.NDArray[np.int16]:
    return np.clip(np.round(signal * 32768), -32768, 32767).astype(np.int16)

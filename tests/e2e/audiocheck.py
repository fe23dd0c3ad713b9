"""Compare the edited video's audio with the source at a sentence's position."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import numpy.typing as npt

RATE = 16000
WINDOW = 160  # 10 ms

Samples = npt.NDArray[np.float64]


def decode(path: Path) -> Samples:
    raw = subprocess.run(
        [
            "ffmpeg",
            "-nostdin",
            "-loglevel",
            "error",
            "-i",
            str(path),
            "-vn",
            "-ac",
            "1",
            "-ar",
            str(RATE),
            "-f",
            "s16le",
            "-",
        ],
        check=True,
        capture_output=True,
    ).stdout
    return np.frombuffer(raw, dtype="<i2").astype(np.float64) / 32768.0


def envelope_db(samples: Samples) -> Samples:
    n = len(samples) // WINDOW
    frames = samples[: n * WINDOW].reshape(n, WINDOW)
    rms = np.sqrt(np.mean(frames**2, axis=1)) + 1e-9
    return 20 * np.log10(rms)


def sentence_matches(
    source: Samples,
    output: Samples,
    src_start: float,
    src_end: float,
    out_start: float,
    *,
    max_lag: float = 0.03,
) -> tuple[bool, str]:
    """Is the sentence at [src_start, src_end] of the source present, whole, at out_start of the
    output? After the best alignment within ±max_lag and a constant gain (channel layouts and
    codecs change the level), every audible 10 ms window of the source must be audible in the
    output too: a clipped word start or end shows as missing windows."""
    a = source[int(src_start * RATE) : int(src_end * RATE)]
    env_a = envelope_db(a)
    audible = env_a > max(float(env_a.max()) - 45.0, -70.0)
    lag_windows = int(max_lag * RATE / WINDOW)
    best: tuple[float, int, int] | None = None
    for lag in range(-lag_windows, lag_windows + 1):
        begin = int(out_start * RATE) + lag * WINDOW
        b = output[max(0, begin) : max(0, begin) + len(a)]
        if begin < 0 or len(b) < len(a):
            continue
        env_b = envelope_db(b)
        gain = float(np.median(env_a[audible] - env_b[audible]))
        difference = env_a[audible] - (env_b[audible] + gain)
        deficit = float(np.mean(np.clip(difference, 0, None)))
        missing = int(np.sum(difference > 15.0))
        if best is None or (missing, deficit) < (best[1], best[0]):
            best = (deficit, missing, lag)
    if best is None:
        return False, "the output ends before the sentence"
    deficit, missing, lag = best
    ok = missing <= 1 and deficit < 2.0
    return (
        ok,
        f"lag {lag * 10} ms, mean deficit {deficit:.1f} dB, {missing} missing of {int(audible.sum())} windows",
    )

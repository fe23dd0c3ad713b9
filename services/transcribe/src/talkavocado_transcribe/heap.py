"""Keep the process's heap from growing window after window.

glibc serves a large allocation with mmap (returned to the system when freed) only while it is
above its mmap threshold, and raises that threshold to the size of every mmapped block that is
freed. After the first window the spectrogram-sized arrays of the next ones land on the heap,
where freed space is fragmented and kept: the transcription step's peak RSS crept up ~6 MB a
window (370 → 396 MB over five 100 s windows). Pinning the threshold keeps such arrays mmapped:
the same run peaked at 302 MB and crept 15 MB in all.
"""

from __future__ import annotations

import ctypes
import ctypes.util

M_MMAP_THRESHOLD = -3  # mallopt parameter (glibc malloc.h)
THRESHOLD_BYTES = 1 << 20


def pin_mmap_threshold(threshold: int = THRESHOLD_BYTES) -> bool:
    """Fix glibc's mmap threshold (no dynamic growth); False where there is no glibc mallopt."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, threshold))

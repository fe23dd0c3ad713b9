"""The integrated loudness from the summary ffmpeg's ebur128 filter logs when it finishes."""

from __future__ import annotations

import math
import re

# ebur128 reports -70 LUFS (its absolute gate) when nothing in the recording passes the gate.
SILENT_LUFS = -70.0

_INTEGRATED = re.compile(
    r"Integrated loudness:\s*\n\s*I:\s*(?P<value>[-+]?(?:\d+(?:\.\d*)?|inf|nan))\s*LUFS",
    re.IGNORECASE,
)


def parse_integrated_loudness(log: str) -> float | None:
    """`I:` of the last ebur128 summary in an ffmpeg log, in LUFS; None when the recording is
    silent (at or below the gate) or the log holds no summary."""
    matches = list(_INTEGRATED.finditer(log))
    if not matches:
        return None
    value = float(matches[-1].group("value"))
    if not math.isfinite(value) or value <= SILENT_LUFS:
        return None
    return value

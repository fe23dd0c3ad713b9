"""The EBU R128 measurements ffmpeg's ebur128 filter logs in its summary when it finishes.

The final encode sets its gain and true-peak limiter from the integrated loudness and the true
peak (render/core/loudness.py), so it normalises in one pass; the range and the gate are
recorded with them. The summary reads:

      Integrated loudness:
        I:         -20.9 LUFS
        Threshold: -31.2 LUFS
      Loudness range:
        LRA:         3.6 LU
        ...
      True peak:
        Peak:       -1.7 dBFS

(with `peak=true` the peak is the true, oversampled peak, in dBTP, though labelled dBFS).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

# ebur128 reports -70 LUFS (its absolute gate) when nothing in the recording passes the gate.
SILENT_LUFS = -70.0


def _number(name: str) -> str:
    return rf"(?P<{name}>[-+]?(?:\d+(?:\.\d*)?|inf|nan))"


_SUMMARY = re.compile(r"Summary:", re.IGNORECASE)
_INTEGRATED = re.compile(
    rf"Integrated loudness:\s*\n\s*I:\s*{_number('value')}\s*LUFS"
    rf"(?:\s*\n\s*Threshold:\s*{_number('threshold')}\s*LUFS)?",
    re.IGNORECASE,
)
_RANGE = re.compile(rf"Loudness range:\s*\n\s*LRA:\s*{_number('value')}\s*LU\b", re.IGNORECASE)
_TRUE_PEAK = re.compile(
    rf"True peak:\s*\n\s*Peak:\s*{_number('value')}\s*dB(?:FS|TP)", re.IGNORECASE
)


@dataclass(frozen=True)
class Loudness:
    """EBU R128 measurements of a recording; None where not measured or meaningless (silence)."""

    integrated_lufs: float | None = None
    # The relative gate of the integrated measurement.
    threshold_lufs: float | None = None
    range_lu: float | None = None
    true_peak_dbtp: float | None = None


def parse_loudness(log: str) -> Loudness:
    """The measurements of the last ebur128 summary in an ffmpeg log.

    A recording at or below the absolute gate (silence) has no integrated loudness, and then
    no threshold or range either (ebur128 prints placeholders); a digital-silence peak is -inf.
    """
    summaries = list(_SUMMARY.finditer(log))
    summary = log[summaries[-1].start() :] if summaries else log
    integrated = _last(_INTEGRATED, summary)
    value = None if integrated is None else _finite(integrated.group("value"))
    peak = _last_value(_TRUE_PEAK, summary)
    if integrated is None or value is None or value <= SILENT_LUFS:
        return Loudness(true_peak_dbtp=peak)
    return Loudness(
        integrated_lufs=value,
        threshold_lufs=_finite(integrated.group("threshold")),
        range_lu=_last_value(_RANGE, summary),
        true_peak_dbtp=peak,
    )


def parse_integrated_loudness(log: str) -> float | None:
    """`I:` of the last ebur128 summary in an ffmpeg log, in LUFS; None when the recording is
    silent (at or below the gate) or the log holds no summary."""
    return parse_loudness(log).integrated_lufs


def _last(pattern: re.Pattern[str], text: str) -> re.Match[str] | None:
    matches = list(pattern.finditer(text))
    return matches[-1] if matches else None


def _last_value(pattern: re.Pattern[str], text: str) -> float | None:
    match = _last(pattern, text)
    return None if match is None else _finite(match.group("value"))


def _finite(text: str | None) -> float | None:
    if text is None:
        return None
    number = float(text)
    return number if math.isfinite(number) else None

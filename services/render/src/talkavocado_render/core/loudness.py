"""Loudness normalisation of the edit: what to ask ffmpeg's loudnorm, decided from the audio
step's EBU R128 measurement of the recording (one pass: no second decode to measure).

Pure. The decision mirrors loudnorm's own (libavfilter/af_loudnorm.c, config_input): with
linear=true it applies one constant gain, target - measured_I, when all four measurements are
given and neither the true peak (measured_TP + gain <= TP) nor the loudness range
(measured_LRA <= LRA) would exceed its target; otherwise it falls back to dynamic mode, a gain
riding the short-term loudness plus a true-peak limiter, upsampled to 192 kHz.

Why loudnorm's dynamic fallback and not a gain plus alimiter: a quiet recording (about -30 LUFS,
peaks 15-20 dB above its loudness, as speech has) cannot reach -16 LUFS linearly without its
peaks passing -1.5 dBTP, so it always takes the fallback. Measured on generated speech at
-30 LUFS, the fallback ends at -16.0 LUFS / -1.5 dBTP with a steady gain (13.8-14.0 dB over the
speech) and the audio not shifted by a sample; alimiter works on sample peaks (inter-sample peaks
pass it) and in ffmpeg 5.1 levels its output automatically unless told not to. The integration
tests hold both modes to +-1 LU of the target.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from talkavocado_common.models import AudioAnalysis, AudioOptions

# loudnorm's default loudness-range target. The LRA target only gates linear mode and limits
# how far dynamic mode compresses; normalising is not meant to compress speech, so the target
# is raised to the recording's own range (up to loudnorm's maximum of 20 LU).
DEFAULT_LRA = 7.0
MAX_LRA = 20.0
# loudnorm reads a measured range of exactly 0 (a steady tone) as "not measured".
_MIN_MEASURED_LRA = 0.01

LoudnessMode = Literal["linear", "dynamic"]


@dataclass(frozen=True)
class Loudnorm:
    """One loudnorm pass with the recording's measured values."""

    target_lufs: float
    true_peak_db: float
    measured_lufs: float
    measured_true_peak_db: float
    measured_range_lu: float
    measured_threshold_lufs: float

    @property
    def range_target_lu(self) -> float:
        return min(MAX_LRA, max(DEFAULT_LRA, self.measured_range_lu))

    @property
    def gain_db(self) -> float:
        return self.target_lufs - self.measured_lufs

    @property
    def mode(self) -> LoudnessMode:
        """The mode loudnorm will choose (its rule, applied to the values passed)."""
        peak_fits = self.measured_true_peak_db + self.gain_db <= self.true_peak_db
        range_fits = self.measured_range_lu <= self.range_target_lu
        # loudnorm's "not measured" sentinels (its option defaults) also mean dynamic.
        given = self.measured_lufs != 0.0 and self.measured_threshold_lufs != -70.0
        return "linear" if peak_fits and range_fits and given else "dynamic"

    def filter(self) -> str:
        # offset: the gain dynamic mode adds on top; 0, as no first dynamic pass measured one.
        # print_format=summary: the mode loudnorm really ran goes to the log (Normalization
        # Type), which the step reads back into its result.
        return (
            f"loudnorm=I={self.target_lufs:.2f}:TP={self.true_peak_db:.2f}"
            f":LRA={self.range_target_lu:.2f}"
            f":measured_I={self.measured_lufs:.2f}:measured_TP={self.measured_true_peak_db:.2f}"
            f":measured_LRA={max(_MIN_MEASURED_LRA, self.measured_range_lu):.2f}"
            f":measured_thresh={self.measured_threshold_lufs:.2f}"
            ":offset=0.00:linear=true:print_format=summary"
        )


@dataclass(frozen=True)
class LoudnessDecision:
    """Normalise with `loudnorm`, or leave the level alone because of `reason`."""

    target_lufs: float | None
    true_peak_db: float
    loudnorm: Loudnorm | None
    reason: str | None = None

    def report(self) -> dict[str, object]:
        """The step result's record of it (the mode as planned; the step overwrites it with
        the mode loudnorm logged)."""
        return {
            "targetLufs": self.target_lufs,
            "truePeakDb": self.true_peak_db,
            "mode": self.loudnorm.mode if self.loudnorm else "off",
            "gainDb": round(self.loudnorm.gain_db, 2) if self.loudnorm else None,
            "measuredLufs": self.loudnorm.measured_lufs if self.loudnorm else None,
            "skipped": self.reason,
        }


# ebur128 and loudnorm accept measurements in these ranges (af_loudnorm.c options).
def _clamp(value: float, low: float, high: float) -> float:
    return min(high, max(low, value))


def plan_loudness(
    options: AudioOptions, analysis: AudioAnalysis | None, *, has_audio: bool
) -> LoudnessDecision:
    """What to do with the edit's level. Missing measurements skip normalisation (with the
    reason) rather than guess: a wrong gain is worse than the recording's own level."""
    target = None if options.loudness == "off" else float(options.loudness)
    tp = options.true_peak_db

    def skip(reason: str) -> LoudnessDecision:
        return LoudnessDecision(target, tp, None, reason)

    if target is None:
        return skip("loudness normalisation is off")
    if not has_audio:
        return skip("the recording has no audio")
    if analysis is None:
        return skip("no audio analysis (audio/analysis.json) to normalise from")
    if analysis.integrated_lufs is None:
        return skip("the recording is silent: no integrated loudness was measured")
    missing = [
        name
        for name, value in (
            ("true peak", analysis.true_peak_dbtp),
            ("loudness range", analysis.loudness_range_lu),
            ("loudness threshold", analysis.loudness_threshold_lufs),
        )
        if value is None
    ]
    if missing:
        return skip(f"the audio analysis has no {', '.join(missing)} (an older analysis)")
    assert analysis.true_peak_dbtp is not None
    assert analysis.loudness_range_lu is not None
    assert analysis.loudness_threshold_lufs is not None
    return LoudnessDecision(
        target,
        tp,
        Loudnorm(
            target_lufs=target,
            true_peak_db=tp,
            measured_lufs=_clamp(analysis.integrated_lufs, -99.0, 0.0),
            measured_true_peak_db=_clamp(analysis.true_peak_dbtp, -99.0, 99.0),
            measured_range_lu=_clamp(analysis.loudness_range_lu, 0.0, 99.0),
            measured_threshold_lufs=_clamp(analysis.loudness_threshold_lufs, -99.0, 0.0),
        ),
    )

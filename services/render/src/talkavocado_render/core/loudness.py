"""Loudness normalisation of the edit: one gain to the target, decided from the audio step's EBU
R128 measurement of the recording (one pass: no second decode to measure), and a true-peak
limiter when that gain would lift the peaks over the ceiling.

Pure. Two modes:

- linear: the gain alone, target - measured integrated loudness, when the measured true peak
  plus the gain stays under the ceiling (a gain down always does);
- limited: the gain, then a look-ahead limiter at the ceiling, run on the sound oversampled 4x
  (192 kHz from 48 kHz, as BS.1770 measures true peak), so inter-sample peaks are caught as
  well, and back to 48 kHz. Quiet speech (about -30 LUFS, its peaks 15-20 dB above its
  loudness) takes this mode to reach -16 LUFS.

Why not ffmpeg's loudnorm, which did this before: its dynamic mode (what it falls back to for
quiet speech) rides the gain on short-term loudness and limits, all at 192 kHz; the limiter
alone is the part that needs the oversampling. Measured on 5 minutes of generated speech at
-31 LUFS: loudnorm 8.3 CPU-s and -17.2 LUFS out, the gain and oversampled limiter 1.4 CPU-s and
-16.8 LUFS, both -1.5 dBTP, neither shifting the sound by a sample (alimiter's latency
compensation). A limiter holding only the peaks also keeps the speaker's dynamics as recorded,
as EBU R128 recommends, where the dynamic mode could pump on level swings. The integration tests
hold both modes to +-1 LU of the target and the ceiling after AAC.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from talkavocado_common.models import AudioAnalysis, AudioOptions

from .audio_edit import AUDIO_RATE, CHANNELS

# The limiter works on the sound oversampled this many times: its sample peaks are then the
# true peaks (BS.1770-4 measures true peak at 4x on 48 kHz).
TRUE_PEAK_OVERSAMPLING = 4
# alimiter's look-ahead (attack) and release in ms: its defaults, short enough to touch only
# the peaks of speech (a plosive, a laugh), long enough not to distort them audibly.
LIMITER_ATTACK_MS, LIMITER_RELEASE_MS = 5.0, 50.0

# A mono edit's level against the target: one channel played on two speakers (10 log10 1/2).
MONO_OFFSET_DB = -3.01

LoudnessMode = Literal["linear", "limited"]


@dataclass(frozen=True)
class Normalisation:
    """One gain to the target with the recording's measured values, limited where needed.

    The gain and mode depend on the edit's channels: a mono edit is played on two speakers,
    which sounds 3 dB louder than BS.1770 reads its one channel, so it is normalised 3 dB under
    the target (AES TD1004: -16 LUFS stereo, -19 mono); its samples are then what each channel
    of the stereo copy held (a mono source spread over two channels at -3 dB each)."""

    target_lufs: float
    true_peak_db: float
    measured_lufs: float
    measured_true_peak_db: float

    def gain_db(self, channels: int = CHANNELS) -> float:
        return self.target_lufs - self.measured_lufs + (MONO_OFFSET_DB if channels == 1 else 0.0)

    def mode(self, channels: int = CHANNELS) -> LoudnessMode:
        fits = self.measured_true_peak_db + self.gain_db(channels) <= self.true_peak_db
        return "linear" if fits else "limited"

    def filters(self, channels: int = CHANNELS) -> tuple[str, ...]:
        """The ffmpeg filters, in order, taking the edit's 48 kHz sound to 48 kHz."""
        gain = f"volume={self.gain_db(channels):.2f}dB:precision=float"
        if self.mode(channels) == "linear":
            return (gain,)
        ceiling = 10 ** (self.true_peak_db / 20)
        return (
            gain,
            f"aresample={AUDIO_RATE * TRUE_PEAK_OVERSAMPLING}",
            # level=disabled: no automatic make-up gain; latency: no delay from the look-ahead.
            f"alimiter=limit={ceiling:.6f}:attack={LIMITER_ATTACK_MS:g}"
            f":release={LIMITER_RELEASE_MS:g}:level=disabled:latency=true",
            f"aresample={AUDIO_RATE}",
        )


@dataclass(frozen=True)
class LoudnessDecision:
    """Normalise with `normalisation`, or leave the level alone because of `reason`."""

    target_lufs: float | None
    true_peak_db: float
    normalisation: Normalisation | None
    reason: str | None = None

    def report(self, channels: int = CHANNELS) -> dict[str, object]:
        """The step result's record of it, for an edit with `channels` channels."""
        normalised = self.normalisation
        return {
            "targetLufs": self.target_lufs,
            "truePeakDb": self.true_peak_db,
            "mode": normalised.mode(channels) if normalised else "off",
            "gainDb": round(normalised.gain_db(channels), 2) if normalised else None,
            "measuredLufs": normalised.measured_lufs if normalised else None,
            "channels": channels,
            "skipped": self.reason,
        }


# The range ebur128 reports in: a measurement outside it is not one to act on.
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
    if analysis.true_peak_dbtp is None:
        return skip("the audio analysis has no true peak (an older analysis)")
    return LoudnessDecision(
        target,
        tp,
        Normalisation(
            target_lufs=target,
            true_peak_db=tp,
            measured_lufs=_clamp(analysis.integrated_lufs, -99.0, 0.0),
            measured_true_peak_db=_clamp(analysis.true_peak_dbtp, -99.0, 99.0),
        ),
    )

"""The loudness decision of the render: the gain, whether the true-peak limiter runs, or why
neither does."""

from __future__ import annotations

import pytest

from talkavocado_common.models import AudioAnalysis, AudioOptions
from talkavocado_render.core.loudness import Normalisation, plan_loudness


def analysis(
    lufs: float | None = -30.0,
    peak: float | None = -12.0,
    lra: float | None = 4.4,
    thresh: float | None = -40.4,
) -> AudioAnalysis:
    return AudioAnalysis(
        duration_sec=60.0,
        sample_rate=16_000,
        integrated_lufs=lufs,
        noise_floor_db=-70.0,
        speech_level_db=-25.0,
        silence_threshold_db=-50.0,
        frame_ms=20,
        min_silence_ms=300,
        silences=[],
        true_peak_dbtp=peak,
        loudness_range_lu=lra,
        loudness_threshold_lufs=thresh,
    )


def test_measured_values_become_one_gain_and_a_limiter() -> None:
    decision = plan_loudness(AudioOptions(), analysis(), has_audio=True)

    assert decision.reason is None
    assert decision.normalisation == Normalisation(-16.0, -1.5, -30.0, -12.0)
    # +14 dB puts the -12 dBTP peaks at +2: the limiter holds them at -1.5 dBTP (0.8414 of
    # full scale), on the sound at 4x the rate so peaks between samples are held too.
    assert decision.normalisation.filters() == (
        "volume=14.00dB:precision=float",
        "aresample=192000",
        "alimiter=limit=0.841395:attack=5:release=50:level=disabled:latency=true",
        "aresample=48000",
    )
    assert decision.report() == {
        "targetLufs": -16.0,
        "truePeakDb": -1.5,
        "mode": "limited",
        "gainDb": 14.0,
        "measuredLufs": -30.0,
        "channels": 2,
        "skipped": None,
    }


def test_a_gain_that_keeps_the_peaks_under_the_ceiling_is_all_there_is() -> None:
    decision = plan_loudness(AudioOptions(loudness=-23.0), analysis(lufs=-20.0), has_audio=True)
    assert decision.normalisation is not None
    assert decision.normalisation.filters() == ("volume=-3.00dB:precision=float",)
    assert decision.report()["mode"] == "linear"


def test_a_mono_edit_is_normalised_three_db_under_the_target() -> None:
    """One channel on two speakers sounds 3 dB louder than BS.1770 reads it: the mono edit's
    samples are what each channel of a stereo copy at the target would hold."""
    decision = plan_loudness(AudioOptions(), analysis(lufs=-30.0, peak=-14.0), has_audio=True)
    assert decision.normalisation is not None
    assert decision.normalisation.gain_db(2) == 14.0
    assert decision.normalisation.gain_db(1) == pytest.approx(10.99)
    # +14 dB takes the -14 dBTP peaks to 0: limited; +10.99 only to -3.01: the gain alone.
    assert decision.normalisation.mode(2) == "limited"
    assert decision.normalisation.mode(1) == "linear"
    assert decision.normalisation.filters(1) == ("volume=10.99dB:precision=float",)
    report = decision.report(1)
    assert (report["mode"], report["gainDb"], report["channels"]) == ("linear", 10.99, 1)


@pytest.mark.parametrize(
    ("lufs", "peak", "target", "mode"),
    [
        (-30.0, -12.0, -16.0, "limited"),  # +14 dB would put the peaks at +2 dBTP
        (-30.0, -16.0, -16.0, "linear"),  # +14 dB: peaks at -2 dBTP, under -1.5
        (-30.0, -15.5, -16.0, "linear"),  # exactly at the ceiling
        (-10.0, -0.5, -16.0, "linear"),  # a gain down never raises the peaks
        (-23.0, -9.0, -23.0, "linear"),  # already at the target
        (-20.0, 0.5, -20.0, "limited"),  # at the target, but peaks already over the ceiling
    ],
)
def test_the_limiter_runs_only_when_the_gain_lifts_the_true_peak_over_the_ceiling(
    lufs: float, peak: float, target: float, mode: str
) -> None:
    decision = plan_loudness(
        AudioOptions(loudness=target), analysis(lufs=lufs, peak=peak), has_audio=True
    )
    assert decision.normalisation is not None
    assert decision.normalisation.mode() == mode
    assert ("alimiter" in ",".join(decision.normalisation.filters())) == (mode == "limited")


def test_the_range_and_gate_are_not_needed() -> None:
    """Only the integrated loudness and the true peak decide: an analysis without the range or
    the gate (which loudnorm needed) still normalises."""
    decision = plan_loudness(AudioOptions(), analysis(lra=None, thresh=None), has_audio=True)
    assert decision.normalisation == Normalisation(-16.0, -1.5, -30.0, -12.0)


@pytest.mark.parametrize(
    ("options", "measured", "has_audio", "reason"),
    [
        (AudioOptions(loudness="off"), analysis(), True, "loudness normalisation is off"),
        (AudioOptions(), analysis(), False, "the recording has no audio"),
        (AudioOptions(), None, True, "no audio analysis (audio/analysis.json) to normalise from"),
        (
            AudioOptions(),
            analysis(lufs=None),
            True,
            "the recording is silent: no integrated loudness was measured",
        ),
        (
            AudioOptions(),
            analysis(peak=None, thresh=None),
            True,
            "the audio analysis has no true peak (an older analysis)",
        ),
    ],
)
def test_without_a_target_or_measurements_the_level_is_left_alone(
    options: AudioOptions, measured: AudioAnalysis | None, has_audio: bool, reason: str
) -> None:
    decision = plan_loudness(options, measured, has_audio=has_audio)

    assert decision.normalisation is None
    assert decision.reason == reason
    report = decision.report()
    assert report["mode"] == "off"
    assert report["skipped"] == reason
    assert report["targetLufs"] == (None if options.loudness == "off" else -16.0)

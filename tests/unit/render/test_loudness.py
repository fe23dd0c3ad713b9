"""The loudness decision of the render: loudnorm's parameters and mode, or why not."""

from __future__ import annotations

import pytest

from talkavocado_common.models import AudioAnalysis, AudioOptions
from talkavocado_render.core.loudness import Loudnorm, plan_loudness


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


def test_measured_values_become_one_loudnorm_pass() -> None:
    decision = plan_loudness(AudioOptions(), analysis(), has_audio=True)

    assert decision.reason is None
    assert decision.loudnorm == Loudnorm(-16.0, -1.5, -30.0, -12.0, 4.4, -40.4)
    assert decision.loudnorm.filter() == (
        "loudnorm=I=-16.00:TP=-1.50:LRA=7.00:measured_I=-30.00:measured_TP=-12.00"
        ":measured_LRA=4.40:measured_thresh=-40.40:offset=0.00:linear=true:print_format=summary"
    )
    assert decision.report() == {
        "targetLufs": -16.0,
        "truePeakDb": -1.5,
        "mode": "dynamic",
        "gainDb": 14.0,
        "measuredLufs": -30.0,
        "skipped": None,
    }


@pytest.mark.parametrize(
    ("lufs", "peak", "target", "mode"),
    [
        (-30.0, -12.0, -16.0, "dynamic"),  # +14 dB would put the peaks at +2 dBTP
        (-30.0, -16.0, -16.0, "linear"),  # +14 dB: peaks at -2 dBTP, under -1.5
        (-30.0, -15.5, -16.0, "linear"),  # exactly at the ceiling
        (-10.0, -0.5, -16.0, "linear"),  # a gain down never raises the peaks
        (-23.0, -9.0, -23.0, "linear"),  # already at the target
    ],
)
def test_mode_follows_loudnorms_true_peak_rule(
    lufs: float, peak: float, target: float, mode: str
) -> None:
    decision = plan_loudness(
        AudioOptions(loudness=target), analysis(lufs=lufs, peak=peak), has_audio=True
    )
    assert decision.loudnorm is not None
    assert decision.loudnorm.mode == mode


def test_the_range_target_follows_the_recording_so_linear_stays_possible() -> None:
    wide = plan_loudness(AudioOptions(), analysis(peak=-20.0, lra=12.5), has_audio=True)
    assert wide.loudnorm is not None
    assert wide.loudnorm.range_target_lu == 12.5
    assert wide.loudnorm.mode == "linear"
    huge = plan_loudness(AudioOptions(), analysis(peak=-20.0, lra=25.0), has_audio=True)
    assert huge.loudnorm is not None
    assert huge.loudnorm.range_target_lu == 20.0
    assert huge.loudnorm.mode == "dynamic"


def test_a_steady_signals_zero_range_is_not_read_as_unmeasured() -> None:
    steady = plan_loudness(AudioOptions(), analysis(peak=-20.0, lra=0.0), has_audio=True)
    assert steady.loudnorm is not None
    assert ":measured_LRA=0.01:" in steady.loudnorm.filter()
    assert steady.loudnorm.mode == "linear"


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
            "the audio analysis has no true peak, loudness threshold (an older analysis)",
        ),
    ],
)
def test_without_a_target_or_measurements_the_level_is_left_alone(
    options: AudioOptions, measured: AudioAnalysis | None, has_audio: bool, reason: str
) -> None:
    decision = plan_loudness(options, measured, has_audio=has_audio)

    assert decision.loudnorm is None
    assert decision.reason == reason
    report = decision.report()
    assert report["mode"] == "off"
    assert report["skipped"] == reason
    assert report["targetLufs"] == (None if options.loudness == "off" else -16.0)

"""Reading the EBU R128 measurements out of ffmpeg's ebur128 summary."""

from __future__ import annotations

import pytest

from talkavocado_audio.core import Loudness, parse_integrated_loudness, parse_loudness

# The audio step's own ffmpeg run (extraction_args) on a generated 112 s talk, as run_ffmpeg
# returns it. ffmpeg 5.1 logs a placeholder summary from the filter instance it builds while
# configuring the graph before the real one at the end: the last summary is the measurement.
REAL_LOG = """\
Input #0, mov,mp4,m4a,3gp,3g2,mj2, from 'input.mp4':
  Metadata:
    major_brand     : isom
    minor_version   : 512
    compatible_brands: isomiso2avc1mp41
    encoder         : Lavf59.27.100
  Duration: 00:01:52.40, start: 0.000000, bitrate: 408 kb/s
  Stream #0:0[0x1](und): Video: h264 (Constrained Baseline) (avc1 / 0x31637661), yuv420p(progre\
ssive), 160x120 [SAR 1:1 DAR 4:3], 307 kb/s, 25 fps, 25 tbr, 12800 tbn (default)
    Metadata:
      handler_name    : VideoHandler
      vendor_id       : [0][0][0][0]
      encoder         : Lavc59.37.100 libx264
  Stream #0:1[0x2](und): Audio: aac (LC) (mp4a / 0x6134706D), 22050 Hz, mono, fltp, 97 kb/s (d\
efault)
    Metadata:
      handler_name    : SoundHandler
      vendor_id       : [0][0][0][0]
[Parsed_ebur128_4 @ 0x55e181ffd280] Summary:

  Integrated loudness:
    I:         -70.0 LUFS
    Threshold:   0.0 LUFS

  Loudness range:
    LRA:         0.0 LU
    Threshold:   0.0 LUFS
    LRA low:     0.0 LUFS
    LRA high:    0.0 LUFS

  True peak:
    Peak:       -inf dBFS
Stream mapping:
  Stream #0:1 (aac) -> asplit:default
  aformat:default -> Stream #0:0 (libmp3lame)
  aformat:default -> Stream #1:0 (pcm_s16le)
  ebur128:out0 -> Stream #2:0 (pcm_s16le)
Output #0, mp3, to 'audio.mp3':
  Stream #0:0: Audio: mp3, 22050 Hz, mono, fltp, 128 kb/s
    Metadata:
      encoder         : Lavc libmp3lame
Output #1, wav, to 'asr-16k-mono.wav':
  Stream #1:0: Audio: pcm_s16le ([1][0][0][0] / 0x0001), 16000 Hz, mono, s16, 256 kb/s
    Metadata:
      encoder         : Lavc pcm_s16le
Output #2, null, to 'pipe:':
  Metadata:
    major_brand     : isom
    minor_version   : 512
    compatible_brands: isomiso2avc1mp41
    encoder         : Lavf59.27.100
  Stream #2:0: Audio: pcm_s16le, 22050 Hz, mono, s16, 352 kb/s
    Metadata:
      encoder         : Lavc59.37.100 pcm_s16le
size=    1758kB time=00:01:52.40 bitrate= 128.1kbits/s speed=18.4x
video:0kB audio:10109kB subtitle:0kB other streams:0kB global headers:0kB muxing overhead: unknown
[Parsed_ebur128_4 @ 0x55e182046c80] Summary:

  Integrated loudness:
    I:         -20.9 LUFS
    Threshold: -31.2 LUFS

  Loudness range:
    LRA:         3.6 LU
    Threshold: -41.8 LUFS
    LRA low:   -24.1 LUFS
    LRA high:  -20.5 LUFS

  True peak:
    Peak:       -1.7 dBFS"""

# `ffmpeg -f lavfi -i anullsrc -t 3 -af ebur128=peak=true -f null -`: digital silence.
SILENT_SUMMARY = """\
[Parsed_ebur128_0 @ 0x55c5cdf70040] Summary:

  Integrated loudness:
    I:         -70.0 LUFS
    Threshold:   0.0 LUFS

  Loudness range:
    LRA:         0.0 LU
    Threshold:   0.0 LUFS
    LRA low:     0.0 LUFS
    LRA high:    0.0 LUFS

  True peak:
    Peak:       -inf dBFS"""

# The summary ebur128 prints without peak=true: no true peak section.
SUMMARY_WITHOUT_PEAK = """\
[Parsed_ebur128_3 @ 0x558222bc4980] Summary:

  Integrated loudness:
    I:         {value} LUFS
    Threshold: -31.0 LUFS

  Loudness range:
    LRA:         4.4 LU
    Threshold: -41.9 LUFS
    LRA low:   -24.7 LUFS
    LRA high:  -20.3 LUFS
"""


def summary(value: str) -> str:
    return SUMMARY_WITHOUT_PEAK.format(value=value)


def test_reads_every_measurement_of_the_real_log() -> None:
    assert parse_loudness(REAL_LOG) == Loudness(
        integrated_lufs=-20.9, threshold_lufs=-31.2, range_lu=3.6, true_peak_dbtp=-1.7
    )
    assert parse_integrated_loudness(REAL_LOG) == pytest.approx(-20.9)


def test_the_placeholder_summary_alone_measures_nothing() -> None:
    placeholder = REAL_LOG[: REAL_LOG.index("Stream mapping:")]
    assert parse_loudness(placeholder) == Loudness()


def test_digital_silence_measures_nothing() -> None:
    assert parse_loudness(SILENT_SUMMARY) == Loudness()


def test_a_real_peak_is_kept_when_the_loudness_is_below_the_gate() -> None:
    # A faint hum: under the -70 LUFS gate, but its peak is a real measurement.
    log = SILENT_SUMMARY.replace("-inf dBFS", "-62.3 dBFS")
    assert parse_loudness(log) == Loudness(true_peak_dbtp=-62.3)


def test_without_true_peak_the_rest_is_read() -> None:
    assert parse_loudness(summary("-20.6")) == Loudness(
        integrated_lufs=-20.6, threshold_lufs=-31.0, range_lu=4.4, true_peak_dbtp=None
    )


def test_a_peak_above_full_scale() -> None:
    # Inter-sample peaks of a clipped master exceed 0 dBFS: positive true peak.
    log = REAL_LOG.replace("Peak:       -1.7 dBFS", "Peak:        +0.8 dBFS")
    assert parse_loudness(log).true_peak_dbtp == pytest.approx(0.8)


def test_reads_the_integrated_loudness() -> None:
    log = "Input #0, mov,mp4\nsize=N/A time=00:00:23.26\n" + summary("-20.6")
    assert parse_integrated_loudness(log) == pytest.approx(-20.6)


def test_the_last_summary_wins() -> None:
    assert parse_integrated_loudness(summary("-30.0") + summary("-23.0")) == pytest.approx(-23.0)
    later = REAL_LOG + "\n" + summary("-23.0")
    assert parse_loudness(later) == Loudness(
        integrated_lufs=-23.0, threshold_lufs=-31.0, range_lu=4.4, true_peak_dbtp=None
    ), "no value of an earlier summary leaks into the last one"


@pytest.mark.parametrize("value", ["-70.0", "-inf", "nan", "-91.2"])
def test_silence_has_no_integrated_loudness(value: str) -> None:
    assert parse_integrated_loudness(summary(value)) is None
    assert parse_loudness(summary(value)) == Loudness()


def test_no_summary() -> None:
    assert parse_integrated_loudness("ffmpeg version 5.1\nInput #0, wav") is None
    assert parse_loudness("ffmpeg version 5.1\nInput #0, wav") == Loudness()


def test_loud_positive_value() -> None:
    assert parse_integrated_loudness(summary("+1.5")) == pytest.approx(1.5)

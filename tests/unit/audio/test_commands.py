"""The audio step's single ffmpeg run."""

from __future__ import annotations

from pathlib import Path

from talkavocado_audio.core import ASR_SAMPLE_RATE, extraction_args


def test_one_input_three_outputs() -> None:
    args = extraction_args(Path("in put.mp4"), Path("out.mp3"), Path("asr.wav"))
    assert args.count("-i") == 1
    assert args[args.index("-i") + 1] == "in put.mp4", "paths are arguments, never shell words"
    assert [args[i + 1] for i, a in enumerate(args) if a == "-map"] == [
        "[mp3]",
        "[wav]",
        "[loudness]",
    ]
    assert args[-3:] == ["-f", "null", "-"], "the loudness meter writes nothing"
    assert "out.mp3" in args
    assert "asr.wav" in args


def test_graph_splits_the_first_audio_stream() -> None:
    args = extraction_args(Path("a.mov"), Path("b.mp3"), Path("c.wav"), audio_stream=1)
    graph = args[args.index("-filter_complex") + 1]
    assert graph.startswith("[0:a:1]asplit=3")
    assert f"aresample={ASR_SAMPLE_RATE}" in graph
    assert "channel_layouts=mono[wav]" in graph
    assert "ebur128=" in graph


def test_the_meter_measures_true_peak_and_keeps_its_frame_log_out_of_the_log() -> None:
    args = extraction_args(Path("a.mp4"), Path("b.mp3"), Path("c.wav"))
    graph = args[args.index("-filter_complex") + 1]
    meter = next(part for part in graph.split(";") if "ebur128=" in part)
    options = dict(o.split("=") for o in meter.split("ebur128=")[1].split("[")[0].split(":"))
    assert options == {"framelog": "verbose", "peak": "true"}


def test_outputs_are_reproducible() -> None:
    args = extraction_args(Path("a.mp4"), Path("b.mp3"), Path("c.wav"))
    assert args.count("-map_metadata") == 2
    assert args.count("+bitexact") == 4

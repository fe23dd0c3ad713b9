"""Benchmark: `avocado process` on generated talks against one plain ffmpeg re-encode.

For each length: every step's wall time and realtime factor (recording seconds per wall second),
and the ratio of the whole process to a plain re-encode of the same input at the same encoder
settings, measured in the same run. Figures are printed (and saved under bench/out/), never
asserted: these machines are shared and noisy.

    .venv/bin/python -m bench.pipeline [--lengths 60,300] [--size 1280x720]
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.runs import lengths_of, lengths_parser, save
from talkavocado_cli.samplegen import long_script, make_recording
from talkavocado_common.models import RenderOptions

AVOCADO = Path(sys.executable).with_name("avocado")


def plain_reencode(source: Path, target: Path, render: RenderOptions) -> float:
    began = time.perf_counter()
    subprocess.run(
        [
            "ffmpeg",
            "-nostdin",
            "-loglevel",
            "error",
            "-y",
            "-i",
            str(source),
            "-c:v",
            "libx264",
            "-preset",
            render.preset,
            "-crf",
            str(render.crf),
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-b:a",
            f"{render.audio_bitrate_kbps}k",
            "-ar",
            "48000",
            "-ac",
            "2",
            "-movflags",
            "+faststart",
            str(target),
        ],
        check=True,
    )
    return time.perf_counter() - began


def process(source: Path, storage: Path) -> tuple[float, dict[str, object]]:
    began = time.perf_counter()
    proc = subprocess.run(
        [str(AVOCADO), "process", str(source), "--storage", str(storage), "-q"],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise SystemExit(f"bench: avocado process failed: {proc.stderr.strip()}")
    return time.perf_counter() - began, json.loads(proc.stdout)


def bench_one(seconds: float, size: str, workdir: Path) -> dict[str, object]:
    width, height = (int(v) for v in size.split("x"))
    source = workdir / f"talk-{int(seconds)}s.mp4"
    recording = make_recording(long_script(seconds), source, width=width, height=height, fps=25)
    render = RenderOptions()
    baseline = plain_reencode(source, workdir / "plain.mp4", render)
    total, manifest = process(source, workdir / "storage")
    steps = manifest["steps"]
    assert isinstance(steps, dict)
    final = next(r for r in manifest["renders"] if r["kind"] == "final")  # type: ignore[union-attr]
    return {
        "recordingSec": round(recording.duration, 2),
        "size": size,
        "editedSec": round(float(final["durationSec"]), 2),
        "baselineReencodeSec": round(baseline, 2),
        "processSec": round(total, 2),
        "ratioToReencode": round(total / baseline, 3),
        "steps": {name: round(float(rec["durationSec"]), 3) for name, rec in steps.items()},
    }


def report(result: dict[str, object]) -> str:
    duration = float(result["recordingSec"])  # type: ignore[arg-type]
    lines = [
        f"\n== {duration:.1f} s recording at {result['size']} -> {result['editedSec']} s edit ==",
        f"{'step':<22}{'wall s':>9}{'x realtime':>12}",
    ]
    steps = result["steps"]
    assert isinstance(steps, dict)
    for name, seconds in steps.items():
        speed = duration / seconds if seconds > 0 else float("inf")
        lines.append(f"{name:<22}{seconds:>9.2f}{speed:>12.1f}")
    lines.append(
        f"{'avocado process':<22}{result['processSec']:>9.2f}{duration / float(result['processSec']):>12.1f}"
    )  # type: ignore[arg-type]
    lines.append(
        f"{'plain re-encode':<22}{result['baselineReencodeSec']:>9.2f}{duration / float(result['baselineReencodeSec']):>12.1f}"
    )  # type: ignore[arg-type]
    lines.append(f"ratio process / plain re-encode: {result['ratioToReencode']:.2f} (goal <= 1.6)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = lengths_parser(__doc__, "60,300").parse_args(argv)
    results = []
    for length in lengths_of(args.lengths):
        with tempfile.TemporaryDirectory(prefix="avocado-bench-") as tmp:
            result = bench_one(length, args.size, Path(tmp))
        print(report(result), flush=True)
        results.append(result)
    save("pipeline", results)
    return 0


if __name__ == "__main__":
    sys.exit(main())

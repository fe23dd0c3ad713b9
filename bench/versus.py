"""Benchmark: the whole edit of a talk by `avocado process` against auto-editor 23.32.1 and one
plain ffmpeg re-encode, measured in the same run on the same input.

For each length a talk is generated (talkavocado_cli.samplegen, 1280x720 at 25 fps, pauses of
known length), then edited three ways, with default options each:
- `avocado process` (transcription, cut planning, subtitles, one encode);
- auto-editor 23.32.1, the last pure-Python release, which cuts silences by loudness (no
  transcription) — installed on first use into its own venv, .cache/bench/auto-editor
  (`pip install --no-deps auto-editor==23.32.1 av==12.3.0 pillow "numpy<2"`), never into
  the project's environment;
- one plain re-encode of the whole input at our encoder settings (bench.pipeline), the floor of
  any edit that encodes once.
Printed as a table with ratios (issue 11's goals: ours / auto-editor ≤ 1.0 at 20 s and ≤ 0.5 at
60 s), saved under bench/out/, never asserted: these machines are shared and noisy. With
--repeat N each tool runs N times per length, interleaved, and the medians are compared.

    .venv/bin/python -m bench.versus [--lengths 20,60] [--size 1280x720] [--repeat 1]
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.pipeline import plain_reencode, process
from bench.runs import lengths_of, lengths_parser, save
from talkavocado_cli.samplegen import long_script, make_recording
from talkavocado_common.models import RenderOptions

ROOT = Path(__file__).resolve().parents[1]
AUTO_EDITOR_VENV = ROOT / ".cache" / "bench" / "auto-editor"
AUTO_EDITOR_VERSION = "23.32.1"
AUTO_EDITOR_PACKAGES = (f"auto-editor=={AUTO_EDITOR_VERSION}", "av==12.3.0", "pillow", "numpy<2")


def auto_editor() -> Path:
    """The auto-editor command, installed into its own venv on first use (and checked)."""
    command = AUTO_EDITOR_VENV / "bin" / "auto-editor"
    if not command.exists():
        print(f"bench: installing auto-editor {AUTO_EDITOR_VERSION} into {AUTO_EDITOR_VENV}")
        subprocess.run([sys.executable, "-m", "venv", str(AUTO_EDITOR_VENV)], check=True)
        subprocess.run(
            [
                str(AUTO_EDITOR_VENV / "bin" / "python"),
                *("-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps"),
                *AUTO_EDITOR_PACKAGES,
            ],
            check=True,
        )
    version = subprocess.run(
        [str(command), "--version"], capture_output=True, text=True, check=True
    ).stdout.strip()
    if f"({AUTO_EDITOR_VERSION})" not in version and version != AUTO_EDITOR_VERSION:
        raise SystemExit(f"bench: {command} is {version!r}, not {AUTO_EDITOR_VERSION}")
    return command


def run_auto_editor(command: Path, source: Path, target: Path) -> float:
    began = time.perf_counter()
    proc = subprocess.run(
        [str(command), str(source), "--no-open", "--progress", "none", "-o", str(target)],
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - began
    if proc.returncode != 0 or not target.is_file():
        raise SystemExit(f"bench: auto-editor failed: {proc.stderr.strip()[-2000:]}")
    return seconds


def duration(path: Path) -> float:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", path],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return float(out.strip())


def bench_one(
    seconds: float, size: str, repeat: int, command: Path, workdir: Path
) -> dict[str, object]:
    width, height = (int(v) for v in size.split("x"))
    source = workdir / f"talk-{int(seconds)}s.mp4"
    recording = make_recording(long_script(seconds), source, width=width, height=height, fps=25)
    render = RenderOptions()
    ours: list[float] = []
    theirs: list[float] = []
    plain: list[float] = []
    edited_ours = edited_theirs = 0.0
    for attempt in range(repeat):
        plain.append(plain_reencode(source, workdir / "plain.mp4", render))
        total, manifest = process(source, workdir / f"storage-{attempt}")
        ours.append(total)
        final = next(r for r in manifest["renders"] if r["kind"] == "final")  # type: ignore[union-attr]
        edited_ours = float(final["durationSec"])
        target = workdir / "auto-editor.mp4"
        target.unlink(missing_ok=True)
        theirs.append(run_auto_editor(command, source, target))
        edited_theirs = duration(target)
    avocado, auto, reencode = (statistics.median(v) for v in (ours, theirs, plain))
    return {
        "recordingSec": round(recording.duration, 2),
        "size": size,
        "runs": repeat,
        "avocadoSec": round(avocado, 2),
        "autoEditorSec": round(auto, 2),
        "plainReencodeSec": round(reencode, 2),
        "avocadoEditedSec": round(edited_ours, 2),
        "autoEditorEditedSec": round(edited_theirs, 2),
        "avocadoOverAutoEditor": round(avocado / auto, 3),
        "avocadoOverReencode": round(avocado / reencode, 3),
        "autoEditorOverReencode": round(auto / reencode, 3),
        "allRuns": {"avocado": ours, "autoEditor": theirs, "plainReencode": plain},
    }


def report(results: list[dict[str, object]]) -> str:
    lines = [
        f"\n== the whole edit: avocado process vs auto-editor {AUTO_EDITOR_VERSION} vs one plain "
        "re-encode (wall s) ==",
        f"{'recording':<18}{'avocado':>9}{'auto-ed':>9}{'re-enc':>8}"
        f"{'ours/ae':>9}{'ours/re':>9}{'ae/re':>7}{'edit: ours':>12}{'ae':>7}",
    ]
    for r in results:
        name = f"{r['recordingSec']} s {r['size']}"
        lines.append(
            f"{name:<18}{r['avocadoSec']:>9.2f}{r['autoEditorSec']:>9.2f}"
            f"{r['plainReencodeSec']:>8.2f}{r['avocadoOverAutoEditor']:>9.2f}"
            f"{r['avocadoOverReencode']:>9.2f}{r['autoEditorOverReencode']:>7.2f}"
            f"{r['avocadoEditedSec']:>12.2f}{r['autoEditorEditedSec']:>7.2f}"
        )
    lines.append("goals (issue 11): ours/ae <= 1.0 at 20 s, <= 0.5 at 60 s")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = lengths_parser(__doc__, "20,60")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each tool (default 1)")
    args = parser.parse_args(argv)
    command = auto_editor()
    results = []
    for length in lengths_of(args.lengths):
        with tempfile.TemporaryDirectory(prefix="avocado-versus-") as tmp:
            results.append(bench_one(length, args.size, max(1, args.repeat), command, Path(tmp)))
    print(report(results), flush=True)
    save("versus", results)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark: how soon `avocado process` reaches its first step, and what the transcription
step waits for.

Each figure is the median of --repeat fresh interpreters (the files are in the page cache: a
warm start, as on a machine that just ran something):
- python: an empty interpreter (`python -c pass`), the floor under everything else;
- import avocado: `import talkavocado_cli.main` (what `avocado --help` pays);
- import before first step: the command and every step handler (`load_handlers()`), which is
  what the main thread imports before audio-extraction starts;
- import engine: faster-whisper and the transcription engine on top of that (the preload
  thread's share);
- model load: tiny.en into CTranslate2 (`engine.load_model`) once the engine is imported;
- `avocado process -v` on a generated talk: from the spawn to the first step's start, to the
  transcription's start and end, and the whole run; from its log, the preload's import + load
  time and how long the transcription step waited for the model (0 once it is preloaded).
It also lists the service-only modules (Kafka, faust, FastAPI, metrics, tracing, settings, S3,
HTTP) that the command's path imports: there should be none. Figures are printed (and saved
under bench/out/), never asserted: these machines are shared and noisy.

    .venv/bin/python -m bench.startup [--repeat 5] [--seconds 20] [--size 1280x720]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from talkavocado_cli.samplegen import long_script, make_recording

ROOT = Path(__file__).resolve().parents[1]
AVOCADO = Path(sys.executable).with_name("avocado")

SERVICE_ONLY = (
    "aiokafka",
    "faust",
    "fastapi",
    "starlette",
    "uvicorn",
    "prometheus_client",
    "opentelemetry",
    "pydantic_settings",
    "aioboto3",
    "botocore",
    "httpx",
)

IMPORT_AVOCADO = "import talkavocado_cli.main"
IMPORT_HANDLERS = (
    "import talkavocado_cli.main\n"
    "from talkavocado_common.topology import load_handlers\n"
    "load_handlers()"
)
IMPORT_ENGINE = "import talkavocado_transcribe.engine"
LOAD_MODEL = (
    "from talkavocado_transcribe.core import resolve_model\n"
    "talkavocado_transcribe.engine.load_model(resolve_model('tiny.en'))"
)
# A child times its own imports (no interpreter start-up in the figure) and reports the modules.
TIMED = """
import json, sys, time
began = time.perf_counter()
{before}
middle = time.perf_counter()
{after}
ended = time.perf_counter()
print(json.dumps({{"first": middle - began, "second": ended - middle,
    "modules": sorted(n for n in {watched!r} if n in sys.modules)}}))
"""


def timed_child(before: str, after: str = "pass") -> dict[str, object]:
    code = TIMED.format(before=before, after=after, watched=SERVICE_ONLY)
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    result: dict[str, object] = json.loads(proc.stdout.splitlines()[-1])
    return result


def wall(argv: list[str]) -> float:
    began = time.perf_counter()
    subprocess.run(argv, capture_output=True, check=True, cwd=ROOT)
    return time.perf_counter() - began


def median(values: list[float]) -> float:
    return round(statistics.median(values), 3)


def imports(repeat: int) -> dict[str, object]:
    python, avocado_help, avocado, handlers, engine, model = [], [], [], [], [], []
    modules: set[str] = set()
    for _ in range(repeat):
        python.append(wall([sys.executable, "-c", "pass"]))
        avocado_help.append(wall([str(AVOCADO), "process", "--help"]))
        one = timed_child(IMPORT_AVOCADO)
        avocado.append(float(one["first"]))  # type: ignore[arg-type]
        two = timed_child(IMPORT_HANDLERS, IMPORT_ENGINE)
        handlers.append(float(two["first"]))  # type: ignore[arg-type]
        engine.append(float(two["second"]))  # type: ignore[arg-type]
        modules.update(two["modules"])  # type: ignore[arg-type]
        three = timed_child(IMPORT_HANDLERS + "\n" + IMPORT_ENGINE, LOAD_MODEL)
        model.append(float(three["second"]))  # type: ignore[arg-type]
    return {
        "pythonSec": median(python),
        "avocadoHelpWallSec": median(avocado_help),
        "importAvocadoSec": median(avocado),
        "importBeforeFirstStepSec": median(handlers),
        "importEngineSec": median(engine),
        "modelLoadSec": median(model),
        "serviceOnlyModules": sorted(modules),
    }


_STEP = re.compile(r"^\[\d+/\d+\] (?P<step>[\w-]+) (?P<what>\.\.\.|.*done \()")
_PRELOADED = re.compile(r"preloaded in (?P<sec>[\d.]+) s")
_WAITED = re.compile(r"(?P<sec>[\d.]+) s waiting for the model")


def process_run(source: Path, storage: Path) -> dict[str, float]:
    """One `avocado process -v`: stderr lines timed as they arrive."""
    began = time.perf_counter()
    proc = subprocess.Popen(
        [str(AVOCADO), "process", str(source), "--storage", str(storage), "-v"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    marks: dict[str, float] = {}
    for line in proc.stderr:
        at = time.perf_counter() - began
        step = _STEP.match(line)
        if step:
            done = step["what"] != "..."
            marks.setdefault("firstStepSec", at)
            marks.setdefault(f"{step['step']}.{'end' if done else 'start'}", at)
        if found := _PRELOADED.search(line):
            marks["preloadSec"] = float(found["sec"])
        if found := _WAITED.search(line):
            marks["modelWaitSec"] = float(found["sec"])
    if proc.wait() != 0:
        raise SystemExit("bench: avocado process failed")
    marks["totalSec"] = time.perf_counter() - began
    return {
        "firstStepSec": marks["firstStepSec"],
        "transcriptionStartSec": marks["transcription.start"],
        "transcriptionEndSec": marks["transcription.end"],
        "preloadSec": marks.get("preloadSec", float("nan")),
        "modelWaitSec": marks.get("modelWaitSec", float("nan")),
        "totalSec": marks["totalSec"],
    }


def processes(seconds: float, size: str, repeat: int, workdir: Path) -> dict[str, float]:
    width, height = (int(v) for v in size.split("x"))
    source = workdir / f"talk-{int(seconds)}s.mp4"
    make_recording(long_script(seconds), source, width=width, height=height, fps=25)
    runs = [process_run(source, workdir / "storage") for _ in range(repeat)]
    return {key: median([run[key] for run in runs]) for key in runs[0]}


def report(result: dict[str, object]) -> str:
    imp = result["imports"]
    run = result["process"]
    assert isinstance(imp, dict)
    assert isinstance(run, dict)
    rows = [
        ("python -c pass (wall)", imp["pythonSec"]),
        ("avocado process --help (wall)", imp["avocadoHelpWallSec"]),
        ("import talkavocado_cli.main", imp["importAvocadoSec"]),
        ("import before the first step", imp["importBeforeFirstStepSec"]),
        ("import the engine (preload)", imp["importEngineSec"]),
        ("load tiny.en (preload)", imp["modelLoadSec"]),
        ("process: first step starts", run["firstStepSec"]),
        ("process: transcription starts", run["transcriptionStartSec"]),
        ("process: preload (import+load)", run["preloadSec"]),
        ("process: transcription waits", run["modelWaitSec"]),
        ("process: transcription ends", run["transcriptionEndSec"]),
        ("process: whole run", run["totalSec"]),
    ]
    lines = [
        f"\n== start-up of avocado process ({result['recording']}; medians of "
        f"{result['repeat']} interpreters, {result['runs']} runs) ==",
        f"{'':<34}{'s':>8}",
    ]
    lines += [f"{name:<34}{float(value):>8.3f}" for name, value in rows]
    modules = imp["serviceOnlyModules"]
    lines.append(f"service-only modules imported: {', '.join(modules) if modules else 'none'}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--repeat", type=int, default=5, help="interpreters per import figure (default 5)"
    )
    parser.add_argument("--runs", type=int, default=3, help="avocado process runs (default 3)")
    parser.add_argument(
        "--seconds", type=float, default=20, help="length of the processed talk (default 20)"
    )
    parser.add_argument("--size", default="1280x720", help="video size (default 1280x720)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="avocado-bench-") as tmp:
        result = {
            "repeat": args.repeat,
            "runs": args.runs,
            "recording": f"{args.seconds:g} s at {args.size}",
            "imports": imports(args.repeat),
            "process": processes(args.seconds, args.size, args.runs, Path(tmp)),
        }
    print(report(result), flush=True)
    out = ROOT / "bench" / "out"
    out.mkdir(exist_ok=True)
    (out / "startup.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nsaved {out / 'startup.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

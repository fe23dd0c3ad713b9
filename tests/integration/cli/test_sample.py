"""`avocado sample`: generated talks with their truth as JSON, and its usage mistakes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

AVOCADO = Path(sys.executable).with_name("avocado")


def sample(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(AVOCADO), "sample", *map(str, args)], capture_output=True, text=True, timeout=120
    )


def test_the_filler_script_comes_with_the_truth_of_its_fillers(tmp_path: Path) -> None:
    out = tmp_path / "fillers.mp4"
    done = sample(out, "--script", "fillers", "--size", "160x120")
    assert done.returncode == 0, done.stderr
    truth = json.loads(done.stdout)
    kinds = [p["kind"] for p in truth["pieces"]]
    assert kinds.count("filler") == 3
    assert kinds.count("speech") == 4
    assert out.stat().st_size > 0
    assert truth["durationSec"] > 10


def test_the_messy_script_marks_breaths_and_clicks(tmp_path: Path) -> None:
    done = sample(tmp_path / "messy.mp4", "--script", "messy", "--size", "160x120")
    assert done.returncode == 0, done.stderr
    kinds = {p["kind"] for p in json.loads(done.stdout)["pieces"]}
    assert {"breath", "click", "thump", "speech", "pause"} <= kinds


def test_seconds_with_a_named_script_is_a_usage_error(tmp_path: Path) -> None:
    done = sample(tmp_path / "x.mp4", "--script", "messy", "--seconds", "30")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "avocado: error: --seconds makes a long generated talk; it does not go with --script"
    ]
    assert not (tmp_path / "x.mp4").exists()

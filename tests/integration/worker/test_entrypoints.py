"""`python -m talkavocado_<service>`: a bad configuration is one line on stderr and exit 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize("service", ["audio", "transcribe", "render"])
def test_bad_configuration_exits_2_with_one_line(service: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", f"talkavocado_{service}"],
        cwd=ROOT,
        env={**os.environ, "KAFKA_PARTITIONS": "none"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.splitlines() == [
        f"talkavocado-{service}: bad configuration: KAFKA_PARTITIONS='none': "
        "Input should be a valid integer, unable to parse string as an integer"
    ]

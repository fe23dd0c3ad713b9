"""Runs `avocado process` as a user would (the installed console script, a real subprocess)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from talkavocado_common.kafka import free_port
from talkavocado_common.media import MediaInfo, probe
from talkavocado_common.models import Timeline
from tests.e2e.stack import KEY, Stack
from tests.mediagen import DEMO_SCRIPT, Recording, make_recording

AVOCADO = Path(sys.executable).with_name("avocado")


@dataclass(frozen=True)
class Run:
    returncode: int
    stdout: str
    stderr: str
    storage: Path

    @property
    def manifest(self) -> dict[str, Any]:
        return json.loads(self.stdout)

    def path(self, key: str) -> Path:
        return self.storage / key


def avocado(*args: str | Path, storage: Path, timeout: float = 600) -> Run:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    proc = subprocess.run(
        [str(AVOCADO), "process", *map(str, args), "--storage", str(storage)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        stdin=subprocess.DEVNULL,
    )
    return Run(proc.returncode, proc.stdout, proc.stderr, storage)


def media_info(path: Path) -> MediaInfo:
    """What ffprobe finds in a file, through the product's own probe."""
    return asyncio.run(probe(path))


@pytest.fixture(scope="session")
def demo_recording(tmp_path_factory: pytest.TempPathFactory) -> Recording:
    return make_recording(DEMO_SCRIPT, tmp_path_factory.mktemp("media") / "talk.mp4")


def normalise(text: str) -> list[str]:
    """Lower-case word tokens, punctuation dropped (how the tests compare spoken text)."""
    return re.sub(r"[^a-z' ]+", " ", text.lower()).split()


def to_timeline(timeline: Timeline, t: float) -> tuple[int, float]:
    """(clip index, timeline time) of source time `t`; a cut time fails the test."""
    for index, clip in enumerate(timeline.clips):
        if clip.source_start <= t < clip.source_end:
            return index, clip.timeline_start + t - clip.source_start
    raise AssertionError(f"source time {t:.3f} s was cut")


# One stack per module, not per session: a stack left up idles on (its consumers' fetches and
# the orchestrator's timer) while the worker's other modules run.
@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("stack")
    # Webhook receivers in the tests listen on loopback, which notify refuses by default.
    env = {"NOTIFY_ALLOW_PRIVATE_DESTINATIONS": "true"}
    running = Stack(
        port=free_port(), storage=root / "storage", dev_key=KEY, cwd=root, env=env
    ).start()
    try:
        yield running
    finally:
        code = running.stop()
    assert code == 0, "\n".join(running.lines[-20:])

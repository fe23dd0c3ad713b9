"""`avocado process` on uploads built to make ffmpeg read another file: the job fails with
INPUT_INVALID in its first step, with one clear line on stderr, and nothing is rendered.
(In-process `main()`: a subprocess per kind would cost seconds each; tests/e2e runs the
installed command on a playlist too.)"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from talkavocado_cli.main import main
from talkavocado_common.storage import JobKeys, LocalStorage
from tests.support.hostile_media import CONTENT_KINDS, png, tiny_recording, write_hostile

REFUSED_FORMAT = "playlists, lists of files and image sequences are refused"


def process(source: Path, storage: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    """Run `avocado process` on `source`; the final manifest, after checking the exit and
    the one stderr line."""
    code = main(["process", str(source), "-q", "--storage", str(storage), "--tenant", "attacker"])
    out, err = capsys.readouterr()
    assert code == 1, err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("avocado: error: INPUT_INVALID: "), lines[0]
    assert "Traceback" not in err
    manifest: dict[str, object] = json.loads(out)
    assert manifest["status"] == "failed"
    assert manifest["renders"] == []
    error = manifest["error"]
    assert isinstance(error, dict)
    assert error["step"] == "audio-extraction"
    assert error["message"] in lines[0]
    return manifest


async def victim_in(storage: Path, victim: Path) -> Path:
    """Another tenant's input, stored where a local storage keeps it; its path on disk."""
    local = LocalStorage(storage)
    key = JobKeys("local", "victim-tenant", "job-of-the-victim").input("talk.mp4")
    await local.upload_from(victim, key)
    path = local.local_path(key)
    assert path is not None
    return path


def test_every_hostile_kind_fails_input_invalid(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    storage = tmp_path / "storage"
    victim = tiny_recording(tmp_path / "victim.mp4")
    stored_victim = asyncio.run(victim_in(storage, victim))

    for kind in CONTENT_KINDS:
        hostile = write_hostile(tmp_path / kind, kind, victim)
        manifest = process(hostile, storage, capsys)
        if kind == "hls-salted":
            assert REFUSED_FORMAT in str(manifest["error"])

    # The realistic attack: a playlist naming another tenant's stored input.
    aimed = write_hostile(tmp_path / "aimed", "hls-salted", stored_victim)
    assert REFUSED_FORMAT in str(process(aimed, storage, capsys)["error"])

    # An image sequence pattern as the file name: stored under a plain name, then refused.
    sequence = png(tmp_path / "frame.png").rename(tmp_path / "img%03d.png")
    assert REFUSED_FORMAT in str(process(sequence, storage, capsys)["error"])
    assert not list(storage.glob("local/attacker/*/renders/*")), "nothing was rendered"

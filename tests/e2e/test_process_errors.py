"""`avocado process` on bad input: one clear line on stderr, non-zero exit, no traceback, and
the manifest says failed and why."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.e2e.conftest import avocado
from tests.mediagen import Recording


def make_bad_inputs(folder: Path, recording: Recording) -> dict[str, Path]:
    text = folder / "notes.mp4"
    text.write_text("this is not a video\n" * 50)
    empty = folder / "empty.mp4"
    empty.write_bytes(b"")
    truncated = folder / "truncated.mp4"
    data = recording.path.read_bytes()
    truncated.write_bytes(data[: len(data) * 3 // 10])
    silent = folder / "silent.mp4"
    subprocess.run(
        [
            "ffmpeg",
            "-nostdin",
            "-loglevel",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=160x120:rate=25:duration=2",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            str(silent),
        ],
        check=True,
    )
    # A playlist naming another recording: the allowlist refuses it (issue 10).
    playlist = folder / "playlist.mp4"
    playlist.write_text(
        "#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\n"
        f"{recording.path.resolve()}\n#EXT-X-ENDLIST\n"
    )
    return {
        "text": text,
        "empty": empty,
        "truncated": truncated,
        "no-audio": silent,
        "playlist": playlist,
    }


@pytest.fixture(scope="module")
def bad_inputs(
    demo_recording: Recording, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    return make_bad_inputs(tmp_path_factory.mktemp("bad"), demo_recording)


@pytest.mark.parametrize("kind", ["text", "empty", "truncated", "no-audio", "playlist"])
def test_a_bad_recording_fails_clearly(
    kind: str, bad_inputs: dict[str, Path], tmp_path: Path
) -> None:
    run = avocado(bad_inputs[kind], "-q", storage=tmp_path / "storage")
    assert run.returncode == 1
    lines = run.stderr.splitlines()
    assert len(lines) == 1, run.stderr
    assert lines[0].startswith("avocado: error: INPUT_INVALID: ")
    assert "Traceback" not in run.stderr
    manifest = run.manifest
    assert manifest["status"] == "failed"
    assert manifest["error"]["code"] == "INPUT_INVALID"
    assert manifest["error"]["step"] == "audio-extraction"
    assert manifest["error"]["message"] in lines[0]
    assert manifest["steps"]["audio-extraction"]["status"] == "failed"
    assert "transcription" not in manifest["steps"]
    # The job's record is on disk too, not only on stdout.
    key = f"local/demo-tenant/{manifest['jobId']}/manifest.json"
    assert '"status": "failed"' in (run.storage / key).read_text()


def test_progress_lines_do_not_hide_the_error(bad_inputs: dict[str, Path], tmp_path: Path) -> None:
    run = avocado(bad_inputs["text"], storage=tmp_path / "storage")
    assert run.returncode == 1
    assert run.stderr.splitlines()[-1].startswith("avocado: error: INPUT_INVALID: ")
    assert "Traceback" not in run.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["/nonexistent/talk.mp4"], "does not exist"),
        (["{video}", "--tenant", "Not A Tenant"], "invalid tenant id"),
        (["{video}", "--options", "{bad_options}"], "invalid options"),
        (["{video}", "--options", "/nonexistent.json"], "cannot read options file"),
        (["{video}", "--asset", "/nonexistent.png"], "asset /nonexistent.png does not exist"),
    ],
)
def test_usage_mistakes_exit_2_with_one_line(
    args: list[str], message: str, demo_recording: Recording, tmp_path: Path
) -> None:
    bad_options = tmp_path / "options.json"
    bad_options.write_text('{"planner": {"minPauseMs": "soon"}}')
    argv = [a.format(video=demo_recording.path, bad_options=bad_options) for a in args]
    run = avocado(*argv, storage=tmp_path / "storage")
    assert run.returncode == 2
    assert run.stdout == ""
    lines = run.stderr.splitlines()
    assert len(lines) == 1, run.stderr
    assert lines[0].startswith("avocado: error: ")
    assert message in lines[0]
    assert not (tmp_path / "storage" / "local").exists(), "no job is created for a usage mistake"

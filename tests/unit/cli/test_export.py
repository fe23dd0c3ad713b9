"""`avocado export JOB --format F` and `avocado process --export F,…`'s checks: the job's export
out of local storage to a file or stdout, and every mistake one line on stderr."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest

from talkavocado_cli.exports import export_path, parse_formats
from talkavocado_cli.main import main
from talkavocado_common.manifest_changes import RecordExports, RequestRevision
from talkavocado_common.manifest_store import ManifestStore
from talkavocado_common.models import ExportArtifact, JobStatus, Manifest, Revision
from talkavocado_common.storage import JobKeys, LocalStorage

KEYS = JobKeys("local", "demo-tenant", "job-1")


async def stored_job(root: Path, *, exports: bool = True) -> None:
    storage = LocalStorage(root)
    manifests = ManifestStore(storage)
    now = datetime.now(UTC)
    await manifests.create(
        KEYS,
        Manifest(
            job_id=KEYS.job_id,
            tenant_id=KEYS.tenant_id,
            env=KEYS.env,
            status=JobStatus.PROCESSING,
            created_at=now,
            updated_at=now,
        ),
    )
    if not exports:
        return
    revision = KEYS.for_revision(2)
    await manifests.update(
        KEYS,
        RequestRevision(Revision(revision=2, requested_at=now, edits=1, cut_plan="x")),
    )
    for keys, number in ((KEYS, None), (revision, 2)):
        written = []
        for fmt in ("fcpxml", "edl"):
            key = keys.timeline_export(fmt)  # type: ignore[arg-type]
            await storage.write_bytes(key, f"{fmt} of {number}".encode())
            written.append(ExportArtifact(key=key, format=fmt))  # type: ignore[arg-type]
        await manifests.update(KEYS, RecordExports(tuple(written), revision=number))


def one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("avocado: error: ")
    assert "Traceback" not in err
    return lines[0]


def test_export_writes_the_jobs_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    asyncio.run(stored_job(tmp_path / "storage"))
    storage = ["--storage", str(tmp_path / "storage")]
    target = tmp_path / "cut.fcpxml"
    assert main(["export", "job-1", "--format", "fcpxml", "-o", str(target), *storage]) == 0
    assert target.read_text() == "fcpxml of None"
    assert str(target) in capsys.readouterr().err
    # Default: JOB.FORMAT here; a revision's own; '-' is stdout.
    monkeypatch.chdir(tmp_path)
    assert main(["export", "job-1", "--format", "edl", "--revision", "2", *storage]) == 0
    assert (tmp_path / "job-1.edl").read_text() == "edl of 2"
    capsys.readouterr()
    assert main(["export", "job-1", "--format", "edl", "-o", "-", *storage]) == 0
    assert capsys.readouterr().out == "edl of None"


@pytest.mark.parametrize(
    ("args", "status", "message"),
    [
        (["job-2", "--format", "fcpxml"], 1, "no job job-2 of tenant demo-tenant"),
        (["job-1", "--format", "xml"], 1, "job job-1 has no xml export"),
        (["job-1", "--format", "mov"], 2, "--format must be one of fcpxml, xml, otio, edl"),
        (["job-1", "--format", "edl", "--revision", "5"], 1, "job job-1 has no revision 5"),
        (["job-1", "--format", "edl", "-o", "/no/such/dir/a.edl"], 2, "folder /no/such/dir"),
        (["../x", "--format", "edl"], 2, "invalid job id"),
    ],
)
def test_export_mistakes_are_one_line(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    status: int,
    message: str,
) -> None:
    asyncio.run(stored_job(tmp_path / "storage"))
    assert main(["export", *args, "--storage", str(tmp_path / "storage")]) == status
    assert message in one_error_line(capsys.readouterr().err)


def test_a_job_without_exports_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    asyncio.run(stored_job(tmp_path / "storage", exports=False))
    assert main(["export", "job-1", "--format", "otio", "--storage", str(tmp_path / "s2")]) == 1
    assert "no job job-1" in one_error_line(capsys.readouterr().err)
    assert (
        main(["export", "job-1", "--format", "otio", "--storage", str(tmp_path / "storage")]) == 1
    )
    assert "has no otio export (status processing" in one_error_line(capsys.readouterr().err)


def test_process_checks_its_export_formats_before_any_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    recording = tmp_path / "talk.mp4"
    recording.write_bytes(b"not looked at")
    storage = tmp_path / "storage"
    code = main(["process", str(recording), "--export", "fcpxml,mov", "--storage", str(storage)])
    assert code == 2
    assert "--export: unknown export format 'mov'" in one_error_line(capsys.readouterr().err)
    assert not any(storage.rglob("*.json"))


def test_formats_and_where_process_puts_them() -> None:
    assert parse_formats("fcpxml, XML,.edl,fcpxml") == ("fcpxml", "xml", "edl")
    with pytest.raises(ValueError, match="no export format"):
        parse_formats(" , ")
    assert export_path(Path("/m/talk.mp4"), "xml") == Path("/m/talk-edit.xml")
    assert export_path(Path("/m/talk.mp4"), "otio", Path("/o")) == Path("/o/talk-edit.otio")

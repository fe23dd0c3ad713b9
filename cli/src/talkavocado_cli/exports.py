"""Timeline exports on the command line: `avocado export JOB --format F [-o PATH]` copies a
processed job's export (written by the pipeline's timeline-export step) out of the storage that
`avocado process` used; `avocado process --export F,…` does the same for the job it just ran,
next to the recording, so the editing program finds the media the export names (a relative file
name: the recording's own)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from talkavocado_common.manifest_store import ManifestStore
from talkavocado_common.models import ExportArtifact, Manifest
from talkavocado_common.storage import JobKeys, NotFound, Storage

ExportFormat = Literal["otio", "fcpxml", "xml", "edl"]
FORMATS: tuple[ExportFormat, ...] = ("fcpxml", "xml", "otio", "edl")
DESCRIPTIONS = {
    "fcpxml": "Final Cut Pro X / DaVinci Resolve",
    "xml": "FCP7 XML: Premiere Pro, Resolve, Kdenlive",
    "otio": "OpenTimelineIO: Resolve, Kdenlive, OTIO tools",
    "edl": "CMX 3600 EDL",
}


class ExportFailed(Exception):
    """The export cannot be had: one line on stderr, exit status 1."""


def parse_formats(value: str) -> tuple[ExportFormat, ...]:
    """A comma-separated list of formats (`fcpxml,xml`); raises ValueError naming a bad one."""
    wanted: list[ExportFormat] = []
    for part in value.split(","):
        name = part.strip().lower().lstrip(".")
        if not name:
            continue
        if name not in FORMATS:
            raise ValueError(f"unknown export format {name!r}: use {', '.join(FORMATS)}")
        if name not in wanted:
            wanted.append(name)
    if not wanted:
        raise ValueError(f"no export format given: use {', '.join(FORMATS)}")
    return tuple(wanted)


def exports_of(manifest: Manifest, revision: int | None) -> list[ExportArtifact]:
    """The exports of the automatic edit (revision None or 1) or of a review revision."""
    if revision in (None, 1):
        return list(manifest.exports)
    entry = manifest.revision(revision)
    if entry is None:
        raise ExportFailed(f"job {manifest.job_id} has no revision {revision}")
    return list(entry.exports)


async def export_bytes(
    storage: Storage, keys: JobKeys, fmt: ExportFormat, revision: int | None = None
) -> bytes:
    """One export of a job in `storage`. Raises ExportFailed with the reason."""
    try:
        manifest = await ManifestStore(storage).get(keys)
    except NotFound:
        raise ExportFailed(
            f"no job {keys.job_id} of tenant {keys.tenant_id} under {storage.location}"
        ) from None
    listed = {e.format: e.key for e in exports_of(manifest, revision)}
    key = listed.get(fmt)
    if key is None:
        raise ExportFailed(
            f"job {keys.job_id} has no {fmt} export (status {manifest.status}; the "
            "timeline-export step writes them after the subtitles)"
        )
    try:
        data, _ = await storage.read_bytes(key)
    except NotFound:
        raise ExportFailed(f"the {fmt} export of job {keys.job_id} is missing ({key})") from None
    return data


def write_output(data: bytes, target: Path | None) -> str:
    """`data` to `target` (None or '-': stdout); the place written, for the message."""
    if target is None or str(target) == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return "stdout"
    try:
        target.write_bytes(data)
    except OSError as exc:
        raise ExportFailed(f"cannot write {target}: {exc.strerror or exc}") from None
    return str(target)


def export_path(recording: Path, fmt: ExportFormat, folder: Path | None = None) -> Path:
    """Where `process --export` puts an export: beside the recording (or in `folder`), named
    after it: talk.mp4 -> talk-edit.fcpxml."""
    return (folder or recording.parent) / f"{recording.stem}-edit.{fmt}"


async def save_exports(
    storage: Storage,
    keys: JobKeys,
    recording: Path,
    formats: Sequence[ExportFormat],
    folder: Path | None = None,
) -> list[Path]:
    written: list[Path] = []
    for fmt in formats:
        path = export_path(recording, fmt, folder)
        write_output(await export_bytes(storage, keys, fmt), path)
        written.append(path)
    return written

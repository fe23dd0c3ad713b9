"""The timeline-export step: the edit as timelines an editor finishes in (OTIO, FCPXML, FCP7
XML, CMX 3600 EDL), written under the job's (or the review revision's) `exports/` by the pure
core in core/exports.py. It runs after subtitles-post-edit, from the same timeline and cues."""

from __future__ import annotations

import asyncio

from talkavocado_common.manifest_changes import RecordExports
from talkavocado_common.models import ErrorCode, ExportArtifact
from talkavocado_common.steps import StepEnv, StepError, StepRequest, StepResult

from .core.exports import EXPORT_FORMATS, ExportError, write_exports
from .edit_steps import final_cues, load_timeline


def media_name_of(original_filename: str | None, source_key: str) -> str:
    """The recording's file name the exports reference (relative): the name it was uploaded
    with, else the stored object's."""
    name = (original_filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    return name or source_key.rsplit("/", 1)[-1]


async def timeline_export(req: StepRequest, env: StepEnv) -> StepResult:
    timeline = await load_timeline(req, env)
    cues = await final_cues(req, env, timeline)
    manifest = await env.manifests.get(req.keys)
    media_name = media_name_of(
        manifest.input.original_filename if manifest.input else None, timeline.source_key
    )
    revision = req.keys.revision
    name = req.keys.job_id if revision is None else f"{req.keys.job_id} revision {revision}"
    try:
        # OTIO and XML work: off the event loop, so heartbeats keep going on a long edit.
        files = await asyncio.to_thread(
            write_exports, timeline, cues, media_name=media_name, name=name
        )
    except ExportError as exc:
        raise StepError(ErrorCode.INTERNAL, str(exc)) from exc
    written: list[ExportArtifact] = []
    for fmt in EXPORT_FORMATS:
        key = req.keys.timeline_export(fmt)
        await env.storage.write_bytes(key, files[fmt].encode())
        written.append(ExportArtifact(key=key, format=fmt))
    await env.manifests.update(req.keys, RecordExports(tuple(written), revision=req.keys.revision))
    env.progress(1.0, f"{len(written)} timelines, {len(timeline.clips)} clips, {len(cues)} markers")
    return {
        "exports": [w.key for w in written],
        "clips": len(timeline.clips),
        "markers": len(cues),
    }

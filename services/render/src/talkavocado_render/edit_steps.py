"""The describing steps of the render service: lay out the timeline, add crossfades, re-time
the subtitles, from the cut plan (talkavocado_common.planning). Each reads its inputs from
storage, runs the pure core and writes its outputs; the one expensive encode is the branding
step (branding.py)."""

from __future__ import annotations

from typing import Literal

from talkavocado_common.artifacts import M, local_file, read_artifact
from talkavocado_common.captions import Cue, format_srt, format_vtt
from talkavocado_common.manifest_changes import RecordSubtitles, RecordTimeline
from talkavocado_common.media import FormatRefused, probe
from talkavocado_common.models import (
    ContractModel,
    CutPlan,
    ErrorCode,
    SubtitleArtifact,
    Timeline,
    Transcript,
)
from talkavocado_common.steps import StepEnv, StepError, StepRequest, StepResult

from .core.retime import plan_cues, retime_cues
from .core.timeline import TimelineError, add_crossfades, build_timeline, frame_rate_of

_PRODUCERS = {
    "transcript": "transcription",
    "cut plan": "smart-cut-planner",
    "timeline": "video-cuts",
}


async def _load(env: StepEnv, key: str, model: type[M], what: str) -> M:
    return await read_artifact(env.storage, key, model, what=what, producer=_PRODUCERS[what])


async def _save(env: StepEnv, key: str, document: ContractModel) -> None:
    await env.storage.write_bytes(key, document.to_json_bytes())


async def video_cuts(req: StepRequest, env: StepEnv) -> StepResult:
    plan = await _load(env, req.keys.cut_plan, CutPlan, "cut plan")
    manifest = await env.manifests.get(req.keys)
    if manifest.input is None:
        raise StepError(ErrorCode.INPUT_NOT_FOUND, "the job has no input recording")
    source_key = manifest.input.key
    local = await local_file(env.storage, source_key, env.workdir / "source")
    try:
        info = await probe(local)  # within the allowlist: a playlist never gets this far
    except FormatRefused as exc:
        raise StepError(ErrorCode.INPUT_INVALID, str(exc)) from None
    video = info.video
    if video is None or not video.width or not video.height or video.frame_rate is None:
        raise StepError(ErrorCode.INPUT_INVALID, "the recording has no video stream to cut")
    duration = video.duration or info.duration
    if not duration:
        raise StepError(ErrorCode.INPUT_INVALID, "the recording's duration cannot be read")
    try:
        timeline = build_timeline(
            plan,
            source_key=source_key,
            rate=frame_rate_of(video.frame_rate),
            width=video.width,
            height=video.height,
            has_audio=info.audio is not None,
            source_duration=min(duration, plan.duration_sec) if plan.duration_sec else duration,
        )
    except TimelineError as exc:
        raise StepError(ErrorCode.INPUT_INVALID, str(exc)) from exc
    await _save(env, req.keys.timeline, timeline)
    await env.manifests.update(
        req.keys, RecordTimeline(req.keys.timeline, revision=req.keys.revision)
    )
    env.progress(1.0, f"{len(timeline.clips)} clips")
    return {
        "timeline": req.keys.timeline,
        "clips": len(timeline.clips),
        "durationSec": timeline.duration_sec,
    }


async def video_transitions(req: StepRequest, env: StepEnv) -> StepResult:
    timeline = await _load(env, req.keys.timeline, Timeline, "timeline")
    # Idempotent: the crossfade length is set, not added, so a rerun writes the same timeline.
    faded = add_crossfades(timeline, req.options.transitions.duration_ms / 1000)
    await _save(env, req.keys.timeline, faded)
    await env.manifests.update(
        req.keys,
        RecordTimeline(req.keys.timeline, "video-transitions", revision=req.keys.revision),
    )
    joins = sum(1 for c in faded.clips if c.transition_in_sec > 0)
    env.progress(1.0, f"{joins} crossfades")
    return {"timeline": req.keys.timeline, "crossfades": joins, "durationSec": faded.duration_sec}


async def load_timeline(req: StepRequest, env: StepEnv) -> Timeline:
    return await _load(env, req.keys.timeline, Timeline, "timeline")


async def final_cues(req: StepRequest, env: StepEnv, timeline: Timeline) -> list[Cue]:
    """The subtitles re-timed onto the edit (what subtitles-post-edit writes as SRT/VTT)."""
    plan = await _load(env, req.keys.cut_plan, CutPlan, "cut plan")
    # The plan's words follow the sound they were kept or cut with; older plans have none.
    cues = plan_cues(plan, timeline, req.options.subtitles)
    if cues is None:
        transcript = await _load(env, req.keys.transcript_json, Transcript, "transcript")
        cues = retime_cues(transcript.words(), timeline, req.options.subtitles)
    return cues


async def subtitles_post_edit(req: StepRequest, env: StepEnv) -> StepResult:
    timeline = await load_timeline(req, env)
    cues = await final_cues(req, env, timeline)
    formats: list[Literal["srt", "vtt"]] = ["srt", "vtt"]
    written: list[SubtitleArtifact] = []
    for fmt in formats:
        # SRT is always written: the burn-in of the branding step reads it.
        if fmt not in req.options.subtitles.formats and fmt != "srt":
            continue
        text = format_srt(cues) if fmt == "srt" else format_vtt(cues)
        key = req.keys.final_subtitles(fmt)
        await env.storage.write_bytes(key, text.encode())
        written.append(SubtitleArtifact(key=key, format=fmt, kind="final"))

    await env.manifests.update(
        req.keys, RecordSubtitles(tuple(written), revision=req.keys.revision)
    )
    env.progress(1.0, f"{len(cues)} cues")
    return {"subtitles": [w.key for w in written], "cues": len(cues)}

"""smart-cut-planner: read the transcript and the audio analysis, plan the cuts, write
plan/cut_plan.json and record it in the manifest."""

from __future__ import annotations

import anyio

from talkavocado_common.artifacts import read_artifact
from talkavocado_common.manifest_changes import RecordCutPlan
from talkavocado_common.models import AudioAnalysis, Transcript
from talkavocado_common.steps import StepEnv, StepRequest, StepResult

from .planner import plan_words_cuts


async def smart_cut_planner(req: StepRequest, env: StepEnv) -> StepResult:
    transcript = await read_artifact(
        env.storage,
        req.keys.transcript_json,
        Transcript,
        what="transcript",
        producer="transcription",
    )
    analysis = await read_artifact(
        env.storage,
        req.keys.audio_analysis,
        AudioAnalysis,
        what="audio analysis",
        producer="audio-extraction",
    )
    # Only the words and the VAD's speech are planned on: the segments' text of a long talk
    # goes before the plan is built.
    words, speech = transcript.words(), transcript.speech
    del transcript
    # Pure but long for long talks (seconds for hours of words): off the event loop, so the
    # worker's heartbeats and other steps keep running.
    plan = await anyio.to_thread.run_sync(
        plan_words_cuts, words, speech, analysis, req.options.planner
    )
    del words, speech, analysis  # not held while the plan is serialised
    await env.storage.write_bytes(req.keys.cut_plan, plan.to_json_bytes())

    await env.manifests.update(req.keys, RecordCutPlan(req.keys.cut_plan))
    env.progress(1.0, f"{sum(plan.stats.cuts_by_reason.values())} cuts")
    return {
        "cutPlan": req.keys.cut_plan,
        "removedSec": plan.stats.removed_duration_sec,
        "cutsByReason": plan.stats.cuts_by_reason,
    }

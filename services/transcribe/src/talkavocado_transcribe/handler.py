"""The `transcription` step: 16 kHz WAV and audio/analysis.json in; transcript.json and source
SRT/VTT captions out.

The engine (faster-whisper, CTranslate2, the Hugging Face hub client, PyAV) is imported when the
step runs or the model is preloaded (`preload.py`), not with this module: `avocado process`
loads every handler before its first step, and that import alone takes over half a second."""

from __future__ import annotations

from pathlib import Path

from talkavocado_common.artifacts import local_file, read_artifact
from talkavocado_common.captions import build_cues, format_srt, format_vtt
from talkavocado_common.manifest_changes import RecordTranscript
from talkavocado_common.models import (
    AudioAnalysis,
    ErrorCode,
    SubtitleArtifact,
    TranscriptArtifacts,
)
from talkavocado_common.steps import StepEnv, StepError, StepRequest, StepResult
from talkavocado_common.storage import NotFound

from .core import is_silent, pauses_for_tightening, transcript_cue_words
from .core.model import DEFAULT_MODEL
from .core.vad import speech_seconds


async def _local_audio(req: StepRequest, env: StepEnv) -> Path:
    key = req.keys.audio_wav
    try:
        return await local_file(env.storage, key, env.workdir / "asr-16k-mono.wav")
    except NotFound:
        raise StepError(
            ErrorCode.INPUT_NOT_FOUND,
            f"the audio to transcribe is missing ({key}); audio-extraction must run first",
        ) from None


async def transcription(req: StepRequest, env: StepEnv) -> StepResult:
    keys = req.keys
    options = req.options
    # The small document first: a job without the audio step's outputs fails before any download.
    # The audio step's levels and silences of the same WAV: this step does not measure again.
    analysis = await read_artifact(
        env.storage,
        keys.audio_analysis,
        AudioAnalysis,
        what="audio analysis",
        producer="audio-extraction",
    )
    audio = await _local_audio(req, env)
    from . import engine

    run = await engine.transcribe(
        audio,
        options.transcription,
        env.progress,
        silences=pauses_for_tightening(analysis),
        silent=is_silent(analysis),
        what=keys.audio_wav,
    )
    transcript = run.transcript

    cues = build_cues(
        transcript_cue_words(transcript),
        max_chars_per_line=options.subtitles.max_chars_per_line,
        max_lines=options.subtitles.max_lines_per_cue,
    )
    srt_key, vtt_key = keys.source_captions("srt"), keys.source_captions("vtt")
    await env.storage.write_bytes(keys.transcript_json, transcript.to_json_bytes())
    await env.storage.write_bytes(srt_key, format_srt(cues).encode())
    await env.storage.write_bytes(vtt_key, format_vtt(cues).encode())

    ours = [
        SubtitleArtifact(key=srt_key, format="srt", kind="source"),
        SubtitleArtifact(key=vtt_key, format="vtt", kind="source"),
    ]

    record = RecordTranscript(
        TranscriptArtifacts(json_key=keys.transcript_json, srt=srt_key, vtt=vtt_key), tuple(ours)
    )
    try:
        await env.manifests.update(keys, record)
    except NotFound:
        raise StepError(
            ErrorCode.INPUT_NOT_FOUND, f"The job's manifest is missing ({keys.manifest})."
        ) from None
    env.progress(1.0, f"{len(transcript.words())} words, {len(cues)} cues")
    return {
        "transcript": keys.transcript_json,
        "captions": {"srt": srt_key, "vtt": vtt_key},
        "language": transcript.language,
        "durationSec": transcript.duration_sec,
        "segments": len(transcript.segments),
        "words": len(transcript.words()),
        "cues": len(cues),
        "realtimeFactor": round(run.realtime_factor, 4),
        "modelLoadSec": round(run.model_load_sec, 3),  # the wait: ~0 once preloaded
        "windows": run.windows,
        "speechSec": round(speech_seconds([(s.start, s.end) for s in transcript.speech or []]), 3),
        "vadSec": round(run.vad_sec, 3),
        "windowRetries": run.retries,
    }


async def warmup(settings: object) -> None:
    """The service's warm-up, run by the step worker before it joins its group (/readyz says
    503 until it is done): loads TRANSCRIBE_WARMUP_MODEL (default tiny.en; empty: nothing)."""
    model = getattr(settings, "warmup_model", DEFAULT_MODEL)
    if model:
        from .engine import warm_up

        await warm_up(str(model))

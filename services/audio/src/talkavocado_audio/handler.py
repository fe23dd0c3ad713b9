"""The audio-extraction step: input recording → MP3, 16 kHz mono WAV and audio/analysis.json.

The imperative shell around `core`: storage, ffprobe, one ffmpeg decode, the WAV read back a
block at a time (memory does not grow with the recording's length).
"""

from __future__ import annotations

import shutil
import tempfile
import wave
from collections.abc import Iterator
from pathlib import Path

import anyio.to_thread
import numpy as np
import numpy.typing as npt

from talkavocado_common.artifacts import local_file
from talkavocado_common.manifest_changes import RecordAudio
from talkavocado_common.media import (
    FfmpegError,
    FfmpegTimeout,
    FormatRefused,
    MediaInfo,
    ProbeError,
    media_time_limit,
    probe,
    run_ffmpeg,
)
from talkavocado_common.media.sniff import HEAD_BYTES, looks_like_text, reference_refusal
from talkavocado_common.models import AudioAnalysis, AudioArtifacts, ErrorCode, Manifest
from talkavocado_common.steps import StepEnv, StepError, StepRequest, StepResult
from talkavocado_common.storage import NotFound

from .core import (
    ASR_SAMPLE_RATE,
    Loudness,
    analyze_blocks,
    explain_decode_failure,
    explain_unreadable,
    extraction_args,
    media_problem,
    parse_loudness,
    truncation_problem,
)

STEP = "audio-extraction"
# The decode's time limit: a backstop far above a normal run (~50x real time or faster).
_DECODE_FLOOR_SEC, _DECODE_PER_MEDIA_SEC = 600.0, 2.0
# The WAV is analysed this many seconds at a time (16 kHz int16: 320 kB).
_BLOCK_SECONDS = 10
# Progress: probing is quick, the decode is most of the work, the analysis and uploads the rest.
_DECODE_START, _DECODE_END = 0.05, 0.8


async def audio_extraction(req: StepRequest, env: StepEnv) -> StepResult:
    manifest = await env.manifests.get(req.keys)
    input_key = _input_key(req, manifest)
    env.workdir.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f"{STEP}-", dir=env.workdir))
    try:
        env.progress(0.0, "reading the recording")
        source = await _local_input(env, input_key, scratch)
        info = await _probe_recording(source)
        mp3, wav = scratch / "audio.mp3", scratch / "asr-16k-mono.wav"
        log = await _decode(env, source, info, mp3, wav)

        env.progress(_DECODE_END, "measuring levels and silences")
        analysis = await anyio.to_thread.run_sync(_analyse_wav, wav, parse_loudness(log))
        expected = info.audio.duration if info.audio and info.audio.duration else info.duration
        problem = truncation_problem(analysis.duration_sec, expected)
        if problem is None and analysis.duration_sec == 0:
            problem = "The recording's sound track holds no audio samples."
        if problem is not None:
            raise StepError(ErrorCode.INPUT_INVALID, problem)
        analysis_path = scratch / "analysis.json"
        analysis_path.write_bytes(analysis.to_json_bytes())

        env.progress(0.9, "storing the audio")
        keys = req.keys
        await env.storage.upload_from(mp3, keys.audio_mp3)
        await env.storage.upload_from(wav, keys.audio_wav)
        await env.storage.upload_from(analysis_path, keys.audio_analysis)
        artifacts = AudioArtifacts(
            mp3=keys.audio_mp3, wav=keys.audio_wav, analysis=keys.audio_analysis
        )
        await env.manifests.update(keys, RecordAudio(artifacts))
        env.progress(1.0, "audio extracted")
        return {
            "mp3": artifacts.mp3,
            "wav": artifacts.wav,
            "analysis": artifacts.analysis,
            "durationSec": analysis.duration_sec,
            "integratedLufs": analysis.integrated_lufs,
            "silences": len(analysis.silences),
        }
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _input_key(req: StepRequest, manifest: Manifest) -> str:
    if manifest.input is None:
        raise StepError(ErrorCode.INPUT_NOT_FOUND, "The job has no input recording.")
    key = manifest.input.key
    if not req.keys.owns(key):
        raise StepError(ErrorCode.INPUT_INVALID, "The job's input lies outside the job.")
    return key


async def _local_input(env: StepEnv, key: str, scratch: Path) -> Path:
    """A path ffmpeg can read: the object in place when the backend has one, else a copy."""
    missing = StepError(
        ErrorCode.INPUT_NOT_FOUND, "The uploaded recording was not found; upload it again."
    )
    try:
        return await local_file(env.storage, key, scratch / ("input" + Path(key).suffix))
    except NotFound:
        raise missing from None


async def _probe_recording(source: Path) -> MediaInfo:
    with source.open("rb") as handle:
        head = handle.read(HEAD_BYTES)
    if not head or looks_like_text(head):
        # A playlist or file list is refused before ffprobe sees it; other text is no media.
        refusal = reference_refusal(head) or explain_unreadable("", head)
        raise StepError(ErrorCode.INPUT_INVALID, refusal)
    try:
        info = await probe(source)
    except FormatRefused as exc:
        raise StepError(ErrorCode.INPUT_INVALID, str(exc)) from None
    except ProbeError as exc:
        raise StepError(ErrorCode.INPUT_INVALID, explain_unreadable(str(exc), head)) from exc
    problem = media_problem(info)
    if problem is not None:
        raise StepError(ErrorCode.INPUT_INVALID, problem)
    return info


async def _decode(env: StepEnv, source: Path, info: MediaInfo, mp3: Path, wav: Path) -> str:
    """One decode pass writing the MP3 and the WAV and metering loudness; returns ffmpeg's log."""

    def on_progress(fraction: float) -> None:
        env.progress(_DECODE_START + (_DECODE_END - _DECODE_START) * fraction, "decoding audio")

    env.progress(_DECODE_START, "decoding audio")
    try:
        return await run_ffmpeg(
            extraction_args(source, mp3, wav),
            expected_duration=info.duration,
            on_progress=on_progress,
            time_limit=media_time_limit(
                info.duration, floor=_DECODE_FLOOR_SEC, per_media_second=_DECODE_PER_MEDIA_SEC
            ),
        )
    except FfmpegTimeout as exc:
        raise StepError(ErrorCode.TIMEOUT, f"Decoding the recording's sound: {exc}.") from None
    except FfmpegError as exc:
        sentence = explain_decode_failure(exc.stderr_tail)
        if sentence is not None:
            raise StepError(ErrorCode.INPUT_INVALID, sentence) from exc
        raise StepError(
            ErrorCode.INTERNAL, f"Audio extraction failed in ffmpeg: {exc.stderr_tail}"
        ) from exc


def _analyse_wav(path: Path, loudness: Loudness) -> AudioAnalysis:
    with wave.open(str(path), "rb") as reader:
        if (reader.getnchannels(), reader.getsampwidth()) != (1, 2):
            raise StepError(ErrorCode.INTERNAL, f"{path.name}: expected 16-bit mono PCM")
        rate = reader.getframerate()
        if rate != ASR_SAMPLE_RATE:
            raise StepError(ErrorCode.INTERNAL, f"{path.name}: expected {ASR_SAMPLE_RATE} Hz")
        blocks = _pcm16_blocks(reader, rate * _BLOCK_SECONDS)
        return analyze_blocks(blocks, rate, loudness=loudness)


def _pcm16_blocks(reader: wave.Wave_read, frames: int) -> Iterator[npt.NDArray[np.int16]]:
    while chunk := reader.readframes(frames):
        yield np.frombuffer(chunk, dtype="<i2")

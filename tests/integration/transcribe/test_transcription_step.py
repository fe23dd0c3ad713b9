"""The transcription step with the real tiny.en model on generated speech with known truth."""

from __future__ import annotations

import difflib
import re
import subprocess
import threading
import time
import wave
from collections.abc import Sequence
from itertools import pairwise
from pathlib import Path

import anyio
import numpy as np
import pytest

from talkavocado_audio.core.analysis import analyze_audio
from talkavocado_common.captions import Cue, parse_srt, parse_vtt
from talkavocado_common.manifest_store import ManifestStore, utcnow
from talkavocado_common.models import (
    AudioAnalysis,
    ErrorCode,
    JobOptions,
    JobStatus,
    Manifest,
    Segment,
    SubtitleArtifact,
    SubtitleOptions,
    Transcript,
    TranscriptionOptions,
    Word,
)
from talkavocado_common.steps import StepEnv, StepError, StepRequest
from talkavocado_common.storage import JobKeys, LocalStorage
from talkavocado_common.topology import load_handlers
from talkavocado_transcribe import engine
from talkavocado_transcribe.core import is_silent, pauses_for_tightening, resolve_model
from talkavocado_transcribe.handler import transcription
from tests.mediagen import DEMO_SCRIPT, Pause, Piece, Say, make_audio

TIMING_TOLERANCE = 0.3
MIN_RECALL = 0.8


# ---------------------------------------------------------------------------------------------
# Fixtures: generated speech (once per module), the model (once per session), a fresh job each


@pytest.fixture(scope="session", autouse=True)
def _model_loaded_once() -> None:
    engine.load_model(resolve_model("tiny.en"))


def to_asr_wav(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            *("ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-i", str(source)),
            *("-ac", "1", "-ar", "16000", "-c:a", "pcm_s16le", str(target)),
        ],
        check=True,
    )


def analyse(wav: Path) -> AudioAnalysis:
    """What the audio step writes to audio/analysis.json for this WAV (its pure core, no LUFS)."""
    with wave.open(str(wav), "rb") as reader:
        assert (reader.getnchannels(), reader.getsampwidth()) == (1, 2)
        rate = reader.getframerate()
        samples = np.frombuffer(reader.readframes(reader.getnframes()), dtype="<i2")
    return analyze_audio(samples, rate)


class Speech:
    """A 16 kHz ASR WAV with its ground truth and the audio step's analysis of it."""

    def __init__(self, wav: Path, duration: float, pieces: Sequence[Piece]) -> None:
        self.wav = wav
        self.duration = duration
        self.pieces = tuple(pieces)
        self.analysis = analyse(wav)

    async def transcribe(self) -> engine.TranscriptionRun:
        """The engine called as the handler calls it."""
        return await engine.transcribe(
            self.wav,
            TranscriptionOptions(),
            silences=pauses_for_tightening(self.analysis),
            silent=is_silent(self.analysis),
        )


def generate(tmp: Path, name: str, script: Sequence[Say | Pause], noise: float = 0.0) -> Speech:
    raw = tmp / f"{name}.wav"
    duration, pieces = make_audio(script, raw, noise_amplitude=noise)
    wav = tmp / f"{name}-16k.wav"
    to_asr_wav(raw, wav)
    return Speech(wav, duration, pieces)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Speech:
    return generate(tmp_path_factory.mktemp("demo"), "demo", DEMO_SCRIPT)


@pytest.fixture(scope="module")
def noisy(tmp_path_factory: pytest.TempPathFactory) -> Speech:
    return generate(tmp_path_factory.mktemp("noisy"), "noisy", DEMO_SCRIPT, noise=0.02)


LONG_SENTENCES = (
    "Good morning and welcome back to the channel.",
    "Today I want to show you how we edit a talking head video.",
    "First we record the raw footage in one long take.",
    "Then the software finds the long pauses and the filler words.",
    "It keeps every sentence whole and cuts only the silence.",
    "After that the subtitles are timed to the new edit.",
    "Finally the logo and the intro are added to the picture.",
    "The whole process runs on a laptop without a graphics card.",
)


@pytest.fixture(scope="module")
def minute(tmp_path_factory: pytest.TempPathFactory) -> Speech:
    """About 60 s: the sentences above twice, with short and long pauses and fillers."""
    script: list[Say | Pause] = [Pause(0.5)]
    for round_ in range(2):
        for n, sentence in enumerate(LONG_SENTENCES):
            script.append(Say(sentence))
            script.append(Pause(1.6 if (n + round_) % 3 == 0 else 0.5))
            if n % 4 == 1:
                script += [Say("um", filler=True), Pause(0.5)]
    return generate(tmp_path_factory.mktemp("minute"), "minute", script)


class Job:
    def __init__(self, root: Path) -> None:
        self.storage = LocalStorage(root / "storage")
        self.keys = JobKeys("test", "tenant-a", "job-1")
        self.manifests = ManifestStore(self.storage)
        self.workdir = root / "work"
        self.workdir.mkdir()
        self.progress: list[tuple[float, str, int]] = []

    async def create(self, speech: Speech | None, *, analysis: AudioAnalysis | bool = True) -> None:
        """The manifest, and what audio-extraction leaves for this step: the WAV of `speech` and
        an analysis (the speech's own when `analysis` is True, none when False)."""
        now = utcnow()
        manifest = Manifest(
            job_id=self.keys.job_id,
            tenant_id=self.keys.tenant_id,
            env=self.keys.env,
            status=JobStatus.PROCESSING,
            subtitles=[
                SubtitleArtifact(key=self.keys.final_subtitles("srt"), format="srt", kind="final")
            ],
            created_at=now,
            updated_at=now,
        )
        await self.manifests.create(self.keys, manifest)
        if speech is not None:
            await self.storage.upload_from(speech.wav, self.keys.audio_wav)
        if analysis is True:
            assert speech is not None
            analysis = speech.analysis
        if isinstance(analysis, AudioAnalysis):
            await self.storage.write_bytes(self.keys.audio_analysis, analysis.to_json_bytes())

    def env(self) -> StepEnv:
        def report(fraction: float, message: str = "") -> None:
            self.progress.append((fraction, message, threading.get_ident()))

        return StepEnv(self.storage, self.manifests, self.workdir, report)

    async def run(self, options: JobOptions | None = None) -> dict[str, object]:
        req = StepRequest("transcription", self.keys, options or JobOptions())
        return await transcription(req, self.env())

    async def text(self, key: str) -> str:
        return (await self.storage.read_bytes(key))[0].decode()

    async def transcript(self) -> Transcript:
        return Transcript.from_json_bytes(
            (await self.storage.read_bytes(self.keys.transcript_json))[0]
        )


@pytest.fixture
async def job(tmp_path: Path) -> Job:
    return Job(tmp_path)


# ---------------------------------------------------------------------------------------------
# Checks against the ground truth


def norm(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


def truth_words(pieces: Sequence[Piece]) -> list[tuple[str, Piece]]:
    return [(token, p) for p in pieces if p.kind == "speech" for token in norm(p.text)]


def recognised(words: Sequence[Word]) -> list[tuple[str, Word]]:
    return [(token, w) for w in words for token in norm(w.word)]


def check_against_truth(transcript: Transcript, speech: Speech) -> tuple[float, float]:
    """Asserts recall and timing; returns (recall, worst timing excess over the tolerance)."""
    truth = truth_words(speech.pieces)
    heard = recognised(transcript.words())
    matcher = difflib.SequenceMatcher(
        a=[t for t, _ in truth], b=[t for t, _ in heard], autojunk=False
    )
    matched = [(i + k, j + k) for i, j, n in matcher.get_matching_blocks() for k in range(n)]
    recall = len(matched) / len(truth)
    assert recall >= MIN_RECALL, f"only {recall:.0%} of the spoken words were recognised"

    worst = 0.0
    # A recognised word lies inside its own sentence's span (± tolerance) ...
    for i, j in matched:
        piece, word = truth[i][1], heard[j][1]
        excess = max(piece.start - word.start, word.end - piece.end)
        worst = max(worst, excess)
        assert excess <= TIMING_TOLERANCE, (word, piece)
    # ... and no word at all lies in a pause: every one is inside some spoken piece's span.
    spoken = [p for p in speech.pieces if p.kind != "pause"]
    for _, word in heard:
        assert any(
            p.start - TIMING_TOLERANCE <= word.start and word.end <= p.end + TIMING_TOLERANCE
            for p in spoken
        ), word
    return recall, worst


def check_captions(cues: Sequence[Cue], transcript: Transcript, options: SubtitleOptions) -> None:
    assert [t for c in cues for line in c.lines for t in line.split()] == [
        w.word.strip() for w in transcript.words() if w.word.strip()
    ]
    for cue in cues:
        assert 1 <= len(cue.lines) <= options.max_lines_per_cue
        assert all(len(line) <= options.max_chars_per_line for line in cue.lines), cue
        assert cue.start < cue.end
    for a, b in pairwise(cues):
        assert a.end <= b.start


# ---------------------------------------------------------------------------------------------
# Tests


def test_handler_is_registered() -> None:
    assert load_handlers("transcribe") == {"transcription": transcription}


async def test_transcribes_generated_speech(job: Job, demo: Speech) -> None:
    await job.create(demo)
    result = await job.run()

    transcript = await job.transcript()
    recall, worst = check_against_truth(transcript, demo)
    print(f"\nclean demo: recall {recall:.0%}, worst timing excess {worst:+.2f} s")
    assert transcript.language == "en"
    assert transcript.model == "tiny.en"
    assert transcript.duration_sec == pytest.approx(demo.duration, abs=0.05)
    assert "um" in " ".join(w.word.lower() for w in transcript.words()), "verbatim prompt ignored"

    options = SubtitleOptions()
    srt = parse_srt(await job.text(job.keys.source_captions("srt")))
    vtt = parse_vtt(await job.text(job.keys.source_captions("vtt")))
    assert srt == vtt
    check_captions(srt, transcript, options)

    manifest = await job.manifests.get(job.keys)
    assert manifest.transcript is not None
    assert manifest.transcript.json_key == job.keys.transcript_json
    assert manifest.transcript.srt == job.keys.source_captions("srt")
    assert manifest.transcript.vtt == job.keys.source_captions("vtt")
    assert [(s.format, s.kind) for s in manifest.subtitles] == [
        ("srt", "final"),  # an entry another step wrote stays
        ("srt", "source"),
        ("vtt", "source"),
    ]

    assert result["transcript"] == job.keys.transcript_json
    assert result["words"] == len(transcript.words())
    assert result["language"] == "en"
    assert isinstance(result["realtimeFactor"], float)
    assert 0 < result["realtimeFactor"] < 1

    fractions = [f for f, _, _ in job.progress]
    assert fractions == sorted(fractions)
    assert fractions[-1] == 1.0
    # Reporters are called on the event loop's thread, never from the worker thread.
    assert {ident for _, _, ident in job.progress} == {threading.get_ident()}


async def test_rerun_replaces_and_never_duplicates(job: Job, demo: Speech) -> None:
    await job.create(demo)
    await job.run()
    first_manifest = await job.manifests.get(job.keys)
    prefix = job.keys.prefix
    first_keys = await job.storage.list(prefix)

    await job.run()
    second_manifest = await job.manifests.get(job.keys)
    # Same keys, overwritten in place. Not byte identity: CTranslate2 does not promise
    # bit-reproducible decoding across thread schedules (a word edge moved by 40 ms between two
    # processes here), and idempotence means same inputs, same keys, overwritten.
    assert await job.storage.list(prefix) == first_keys
    assert second_manifest.subtitles == first_manifest.subtitles
    assert second_manifest.transcript == first_manifest.transcript
    assert len(second_manifest.subtitles) == 3
    check_against_truth(await job.transcript(), demo)


async def test_noisy_room(job: Job, noisy: Speech) -> None:
    await job.create(noisy)
    await job.run()
    recall, worst = check_against_truth(await job.transcript(), noisy)
    print(f"\nnoisy demo: recall {recall:.0%}, worst timing excess {worst:+.2f} s")


async def test_subtitle_options_are_honoured(
    job: Job, demo: Speech, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Only the captions depend on these options: a transcript made from the ground truth
    # stands in for the model.
    words = []
    for piece in demo.pieces:
        tokens = piece.text.split()
        step = piece.duration / max(1, len(tokens))
        words += [
            Word(
                start=piece.start + k * step,
                end=piece.start + (k + 1) * step,
                word=f" {t}",
                probability=1.0,
            )
            for k, t in enumerate(tokens)
        ]
    segment = Segment(id=0, start=words[0].start, end=words[-1].end, text="", words=words)
    transcript = Transcript(
        language="en", duration_sec=demo.duration, model="tiny.en", segments=[segment]
    )
    run = engine.TranscriptionRun(transcript, model_load_sec=0.0, transcribe_sec=1.0)

    async def cached(*args: object, **kwargs: object) -> engine.TranscriptionRun:
        return run

    monkeypatch.setattr(engine, "transcribe", cached)
    await job.create(demo)
    options = JobOptions(subtitles=SubtitleOptions(max_chars_per_line=20, max_lines_per_cue=1))
    await job.run(options)
    cues = parse_srt(await job.text(job.keys.source_captions("srt")))
    check_captions(cues, await job.transcript(), options.subtitles)
    assert max(len(c.lines) for c in cues) == 1


@pytest.mark.slow
async def test_a_minute_of_speech_and_its_realtime_factor(minute: Speech) -> None:
    run = await minute.transcribe()
    recall, worst = check_against_truth(run.transcript, minute)
    print(
        f"\n{minute.duration:.1f} s recording: transcribed in {run.transcribe_sec:.2f} s, "
        f"realtime factor {run.realtime_factor:.3f} (processing/audio), "
        f"recall {recall:.0%}, worst timing excess {worst:+.2f} s"
    )
    assert run.realtime_factor < 1.0


async def test_cancellation_returns_promptly(minute: Speech) -> None:
    began = time.perf_counter()
    with anyio.move_on_after(0.3) as scope:
        await minute.transcribe()
    assert scope.cancelled_caught
    assert time.perf_counter() - began < 2.0  # the whole minute takes several seconds


async def test_missing_audio_is_input_not_found(job: Job, demo: Speech) -> None:
    await job.create(None, analysis=demo.analysis)
    with pytest.raises(StepError) as caught:
        await job.run()
    assert caught.value.code == ErrorCode.INPUT_NOT_FOUND
    assert job.keys.audio_wav in caught.value.message
    assert "audio-extraction must run first" in caught.value.message
    assert (await job.manifests.get(job.keys)).transcript is None


async def test_missing_analysis_is_input_not_found(job: Job, demo: Speech) -> None:
    await job.create(demo, analysis=False)
    with pytest.raises(StepError) as caught:
        await job.run()
    assert caught.value.code == ErrorCode.INPUT_NOT_FOUND
    assert job.keys.audio_analysis in caught.value.message
    assert "audio-extraction must run first" in caught.value.message
    assert (await job.manifests.get(job.keys)).transcript is None
    assert not await job.storage.exists(job.keys.transcript_json)


@pytest.mark.parametrize(
    "document", [b"{not json", b'{"durationSec": 2.0}'], ids=["not-json", "wrong-shape"]
)
async def test_invalid_analysis_is_input_invalid(job: Job, demo: Speech, document: bytes) -> None:
    await job.create(demo, analysis=False)
    await job.storage.write_bytes(job.keys.audio_analysis, document)
    with pytest.raises(StepError) as caught:
        await job.run()
    assert caught.value.code == ErrorCode.INPUT_INVALID
    assert job.keys.audio_analysis in caught.value.message


async def test_undecodable_audio_is_input_invalid(job: Job, demo: Speech) -> None:
    await job.create(None, analysis=demo.analysis)
    await job.storage.write_bytes(job.keys.audio_wav, b"this is not audio at all")
    with pytest.raises(StepError) as caught:
        await job.run()
    assert caught.value.code == ErrorCode.INPUT_INVALID
    assert job.keys.audio_wav in caught.value.message


@pytest.mark.parametrize(
    ("model", "fragment"),
    [("/nonexistent/whisper-model", "does not exist"), ("no-such-model", "no-such-model")],
)
async def test_unloadable_model_is_input_invalid(
    job: Job, demo: Speech, model: str, fragment: str
) -> None:
    await job.create(demo)
    options = JobOptions(transcription=TranscriptionOptions(model=model))
    with pytest.raises(StepError) as caught:
        await job.run(options)
    assert caught.value.code == ErrorCode.INPUT_INVALID
    assert fragment in caught.value.message


async def test_directory_that_is_not_a_model_is_input_invalid(
    job: Job, demo: Speech, tmp_path: Path
) -> None:
    await job.create(demo)
    bogus = tmp_path / "not-a-model"
    bogus.mkdir()
    options = JobOptions(transcription=TranscriptionOptions(model=str(bogus)))
    with pytest.raises(StepError) as caught:
        await job.run(options)
    assert caught.value.code == ErrorCode.INPUT_INVALID
    assert str(bogus) in caught.value.message


async def test_silent_audio_gives_an_empty_transcript(
    job: Job, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    silent = tmp_path / "silent.wav"
    await anyio.run_process(
        ["sox", "-n", "-r", "16000", "-c", "1", "-b", "16", str(silent), "trim", "0", "2"]
    )
    speech = Speech(silent, 2.0, ())
    assert [(s.start, s.end) for s in speech.analysis.silences] == [(0.0, 2.0)]

    # The analysis says silent: Whisper is not run.
    class NoWhisper:
        def transcribe(self, *args: object, **kwargs: object) -> object:
            raise AssertionError("Whisper ran on a silent recording")

    monkeypatch.setattr(engine, "load_model", lambda source: NoWhisper())
    await job.create(speech)
    result = await job.run()
    transcript = await job.transcript()
    assert transcript.segments == []
    assert transcript.duration_sec == 2.0
    assert result["words"] == 0
    assert await job.text(job.keys.source_captions("srt")) == ""
    assert parse_vtt(await job.text(job.keys.source_captions("vtt"))) == []

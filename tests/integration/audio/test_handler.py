"""audio-extraction on generated recordings whose pauses are known exactly."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest

from talkavocado_audio import audio_extraction
from talkavocado_audio.core import frame_levels_db
from talkavocado_common.media import probe
from talkavocado_common.models import AudioAnalysis, Interval
from talkavocado_common.storage import LocalStorage
from talkavocado_common.topology import load_handlers
from tests.mediagen import Pause, Recording, Say, make_recording

from .conftest import Job, Submit

# Pauses shorter than this can merge with espeak's own gaps at punctuation; all in the script
# are longer.
MIN_CHECKED_PAUSE = 0.3
# A silence this long inside a sentence would be a pause that is not there.
MAX_SILENCE_IN_SPEECH = 0.4


def matching_silence(silences: list[Interval], start: float, end: float) -> Interval:
    overlapping = [s for s in silences if s.end > start and s.start < end]
    assert overlapping, f"no silence found for the pause {start:.3f}-{end:.3f}"
    return max(overlapping, key=lambda s: min(s.end, end) - max(s.start, start))


def edge_errors(recording: Recording, analysis: AudioAnalysis) -> list[float]:
    """Signed error (s) of every silence edge against the pause it stands for. The recording's
    own start and end are not pause edges (the codec may pad the last frame)."""
    errors: list[float] = []
    for pause in recording.of_kind("pause"):
        if pause.duration < MIN_CHECKED_PAUSE:
            continue
        found = matching_silence(analysis.silences, pause.start, pause.end)
        assert found.duration >= 0.8 * pause.duration, (pause, found)
        if pause.start > 0:
            errors.append(found.start - pause.start)
        if pause.end < recording.duration - 0.01:
            errors.append(found.end - pause.end)
    return errors


def silences_inside_speech(
    recording: Recording, analysis: AudioAnalysis, longest: float = MAX_SILENCE_IN_SPEECH
) -> list[Interval]:
    spoken = [p for p in recording.pieces if p.kind != "pause"]
    return [
        s
        for s in analysis.silences
        for piece in spoken
        if piece.start <= s.start and s.end <= piece.end and s.duration >= longest
    ]


def covered(silences: list[Interval], start: float, end: float) -> float:
    return sum(max(0.0, min(s.end, end) - max(s.start, start)) for s in silences)


async def run(job: Job) -> tuple[dict[str, object], AudioAnalysis]:
    result = await audio_extraction(job.request, job.env)
    data, _ = await job.storage.read_bytes(job.keys.audio_analysis)
    return result, AudioAnalysis.from_json_bytes(data)


def stored(job: Job, key: str) -> Path:
    path = job.storage.local_path(key)
    assert path is not None
    assert path.is_file(), key
    return path


def test_registered_under_its_step_name() -> None:
    assert load_handlers("audio") == {"audio-extraction": audio_extraction}


async def test_clean_recording(submit: Submit, clean_talk: Recording) -> None:
    job = await submit(clean_talk.path, "talk.mp4")
    result, analysis = await run(job)

    assert result == {
        "mp3": job.keys.audio_mp3,
        "wav": job.keys.audio_wav,
        "analysis": job.keys.audio_analysis,
        "durationSec": analysis.duration_sec,
        "integratedLufs": analysis.integrated_lufs,
        "silences": len(analysis.silences),
    }
    assert analysis.duration_sec == pytest.approx(clean_talk.duration, abs=0.1)
    assert analysis.integrated_lufs is not None
    assert -35 < analysis.integrated_lufs < -10
    errors = edge_errors(clean_talk, analysis)
    assert max(map(abs, errors)) <= 0.03, errors
    assert silences_inside_speech(clean_talk, analysis) == []

    manifest = await job.manifests.get(job.keys)
    assert manifest.audio is not None
    assert (manifest.audio.mp3, manifest.audio.wav, manifest.audio.analysis) == (
        job.keys.audio_mp3,
        job.keys.audio_wav,
        job.keys.audio_analysis,
    )


async def test_outputs_have_the_promised_formats(submit: Submit, clean_talk: Recording) -> None:
    job = await submit(clean_talk.path, "talk.mp4")
    await run(job)

    mp3 = await probe(stored(job, job.keys.audio_mp3))
    assert mp3.audio is not None
    assert mp3.audio.codec_name == "mp3"
    assert mp3.video is None
    assert mp3.duration == pytest.approx(clean_talk.duration, abs=0.15)

    wav_path = stored(job, job.keys.audio_wav)
    wav = await probe(wav_path)
    assert wav.audio is not None
    assert (wav.audio.codec_name, wav.audio.sample_rate, wav.audio.channels) == (
        "pcm_s16le",
        16000,
        1,
    )
    with wave.open(str(wav_path)) as reader:
        assert reader.getnframes() / reader.getframerate() == pytest.approx(
            clean_talk.duration, abs=0.1
        )


async def test_progress_is_reported_up_to_done(submit: Submit, clean_talk: Recording) -> None:
    job = await submit(clean_talk.path, "talk.mp4")
    await run(job)
    fractions = [fraction for fraction, _ in job.progress.reports]
    assert fractions == sorted(fractions)
    assert fractions[-1] == 1.0
    assert any(0.05 < f < 0.8 for f in fractions), "the decode reports its progress"


async def test_rerun_overwrites_with_the_same_outputs(
    submit: Submit, clean_talk: Recording
) -> None:
    job = await submit(clean_talk.path, "talk.mp4")
    first, _ = await run(job)
    keys = [job.keys.audio_mp3, job.keys.audio_wav, job.keys.audio_analysis]
    before = [(await job.storage.read_bytes(key))[0] for key in keys]
    second, _ = await run(job)
    after = [(await job.storage.read_bytes(key))[0] for key in keys]
    assert first == second
    assert before == after
    assert await job.storage.list(job.keys.key("audio")) == sorted(keys)
    assert not any((job.env.workdir).iterdir()), "scratch files are removed"


async def test_noisy_room(submit: Submit, noisy_talk: Recording) -> None:
    job = await submit(noisy_talk.path, "talk.mp4")
    _, analysis = await run(job)
    assert -50 < analysis.noise_floor_db < -40
    errors = sorted(map(abs, edge_errors(noisy_talk, analysis)))
    # One edge is at the limit of what the noise lets through: the faint release of the final
    # p in "gap." sits at the room's level, and some noise draws (sox's seed) hide it, which
    # moves that pause's start to the plosive's closure, about 90 ms early.
    assert errors[-1] <= 0.1, errors
    assert errors[-2] <= 0.06, errors
    assert silences_inside_speech(noisy_talk, analysis) == []


async def test_loud_room_where_a_fixed_threshold_finds_nothing(
    submit: Submit, loud_room_talk: Recording
) -> None:
    job = await submit(loud_room_talk.path, "talk.mp4")
    _, analysis = await run(job)
    with wave.open(str(stored(job, job.keys.audio_wav))) as reader:
        samples = np.frombuffer(reader.readframes(reader.getnframes()), dtype="<i2")
    below_fixed = frame_levels_db(samples, 16000) < -35.0
    assert below_fixed.mean() < 0.02, "a fixed -35 dBFS threshold would see (almost) no pause"

    assert analysis.noise_floor_db > -36
    # Speech stands only ~12 dB above this room: the faint ends of words drown and edges move
    # by up to ~150 ms, but every pause is found.
    for pause in loud_room_talk.of_kind("pause"):
        if pause.duration >= MIN_CHECKED_PAUSE:
            assert covered(analysis.silences, pause.start, pause.end) >= 0.7 * pause.duration
    # espeak's own break after "show." is 0.38 s of silence; noise blurs its edges a little.
    assert silences_inside_speech(loud_room_talk, analysis, longest=0.45) == []


async def test_audio_only_input_from_a_backend_without_local_paths(
    submit: Submit, media_dir: Path
) -> None:
    recording = make_recording(
        [Say("Short and sweet."), Pause(0.8), Say("The end.")],
        media_dir / "voice.m4a",
        video=False,
    )
    job = await submit(recording.path, "voice.m4a")
    remote_like = RemoteLikeStorage(job.storage.root)
    env = type(job.env)(remote_like, job.manifests, job.env.workdir, job.progress)
    result = await audio_extraction(job.request, env)
    data, _ = await job.storage.read_bytes(job.keys.audio_analysis)
    analysis = AudioAnalysis.from_json_bytes(data)
    assert result["silences"] == len(analysis.silences)
    pause = recording.of_kind("pause")[0]
    found = matching_silence(analysis.silences, pause.start, pause.end)
    assert found.start == pytest.approx(pause.start, abs=0.03)
    assert found.end == pytest.approx(pause.end, abs=0.03)


class RemoteLikeStorage(LocalStorage):
    """Local files, but no path to read in place: the handler must download, as from S3."""

    def local_path(self, key: str) -> Path | None:
        return None

"""`avocado process` on speech as real rooms make it: pauses full of breaths, clicks, a chair and
room tone; a quiet answer; fillers Whisper writes in the wrong place; crossfades of every length.

Two generated talks (about 36 s and 15 s) are processed once each; the crossfade variants reuse
the first talk's extracted audio and transcript and run only the planner and the render.
"""

from __future__ import annotations

import asyncio
import shutil
import wave
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from talkavocado_common.captions import parse_srt, parse_vtt
from talkavocado_common.manifest_store import ManifestStore
from talkavocado_common.models import CutPlan, JobOptions, Timeline, Transcript
from talkavocado_common.step_runner import run_step
from talkavocado_common.steps import StepRequest
from talkavocado_common.storage import JobKeys
from talkavocado_common.storage.local import LocalStorage
from talkavocado_common.topology import load_handlers
from tests.e2e.audiocheck import Samples, decode, sentence_matches
from tests.e2e.conftest import Run, avocado, normalise, to_timeline
from tests.mediagen import (
    MESSY_QUIET_WORDS,
    MESSY_ROOM_TONE_DB,
    MESSY_SCRIPT,
    MISPLACED_FILLER_SCRIPT,
    Piece,
    Recording,
    make_recording,
)
from tests.support.step_memory import create_job

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

FILLER_WORDS = {"um", "umm", "uh", "uhh", "uhm", "erm", "er", "hmm", "mm", "ah"}
TOLERANCE = 0.03  # s: how far a cut may reach into the generated truth (frame rounding)


def load(path: Path, model: type[Any]) -> Any:
    return model.model_validate_json(path.read_bytes())


@dataclass(frozen=True)
class Pause:
    """Everything between two sentences: silence and the non-speech sounds it holds."""

    before: Piece
    after: Piece
    kinds: frozenset[str]

    @property
    def seconds(self) -> float:
        return self.after.start - self.before.end


def pauses_between_sentences(recording: Recording) -> list[Pause]:
    speech = recording.of_kind("speech")
    found = []
    for before, after in pairwise(speech):
        inside = {p.kind for p in recording.pieces if before.end <= p.start < after.start}
        found.append(Pause(before, after, frozenset(inside)))
    return found


@dataclass(frozen=True)
class Edit:
    """A finished job's documents and output, wherever its keys live."""

    job_dir: Path

    @property
    def plan(self) -> CutPlan:
        result: CutPlan = load(self.job_dir / "plan/cut_plan.json", CutPlan)
        return result

    @property
    def timeline(self) -> Timeline:
        result: Timeline = load(self.job_dir / "plan/timeline.json", Timeline)
        return result

    @property
    def transcript(self) -> Transcript:
        result: Transcript = load(self.job_dir / "transcripts/transcript.json", Transcript)
        return result

    def output(self) -> Samples:
        return decode(self.job_dir / "renders/final.mp4")


def edit_of(run: Run) -> Edit:
    assert run.returncode == 0, run.stderr
    manifest = run.manifest
    assert manifest["status"] == "completed", manifest["error"]
    return Edit(run.path(manifest["plan"]["cutPlan"]).parents[1])


def whole_sentences(recording: Recording, edit: Edit, source: Samples) -> list[str]:
    """Every spoken piece that is not whole at its place in the output, with the reason."""
    timeline = edit.timeline
    output = edit.output()
    broken = []
    for piece in recording.of_kind("speech"):
        try:
            first, out_start = to_timeline(timeline, piece.start)
            last, _ = to_timeline(timeline, piece.end - 1e-3)
        except AssertionError as exc:
            broken.append(f"{piece.text!r}: {exc}")
            continue
        if first != last:
            broken.append(f"{piece.text!r} spans a cut (clips {first}-{last})")
            continue
        ok, detail = sentence_matches(source, output, piece.start, piece.end, out_start)
        if not ok:
            broken.append(f"{piece.text!r}: {detail}")
    return broken


# --- the talks --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def messy_recording(tmp_path_factory: pytest.TempPathFactory) -> Recording:
    return make_recording(
        MESSY_SCRIPT,
        tmp_path_factory.mktemp("messy") / "messy.mp4",
        room_tone_db=MESSY_ROOM_TONE_DB,
        width=160,
        height=120,  # the renders stay cheap; the sound is what these tests look at
    )


@pytest.fixture(scope="module")
def messy_run(messy_recording: Recording, tmp_path_factory: pytest.TempPathFactory) -> Run:
    return avocado(
        messy_recording.path, "--tenant", "acme", storage=tmp_path_factory.mktemp("storage")
    )


@pytest.fixture(scope="module")
def messy_edit(messy_run: Run) -> Edit:
    return edit_of(messy_run)


@pytest.fixture(scope="module")
def messy_source(messy_recording: Recording) -> Samples:
    return decode(messy_recording.path)


@pytest.fixture(scope="module")
def filler_recording(tmp_path_factory: pytest.TempPathFactory) -> Recording:
    return make_recording(
        MISPLACED_FILLER_SCRIPT,
        tmp_path_factory.mktemp("fillers") / "fillers.mp4",
        room_tone_db=MESSY_ROOM_TONE_DB,
        width=160,
        height=120,  # the renders stay cheap; the sound is what these tests look at
    )


@pytest.fixture(scope="module")
def filler_run(filler_recording: Recording, tmp_path_factory: pytest.TempPathFactory) -> Run:
    return avocado(
        filler_recording.path, "--tenant", "acme", storage=tmp_path_factory.mktemp("storage")
    )


@pytest.fixture(scope="module")
def filler_edit(filler_run: Run) -> Edit:
    return edit_of(filler_run)


# --- 2. pauses in real speech are pauses --------------------------------------------------------


def test_the_generated_talk_has_every_kind_of_noise_inside_long_pauses(
    messy_recording: Recording,
) -> None:
    long_kinds = set().union(
        *(p.kinds for p in pauses_between_sentences(messy_recording) if p.seconds > 1.0)
    )
    assert {"breath", "click", "thump", "pause"} <= long_kinds
    assert MESSY_QUIET_WORDS in [p.text for p in messy_recording.of_kind("speech")]


def test_the_noises_are_where_and_as_loud_as_the_truth_says(messy_recording: Recording) -> None:
    """The ground truth is exact: each breath at its dBFS level, the room tone in every pause."""
    with wave.open(str(messy_recording.audio_path), "rb") as wav:
        rate = wav.getframerate()
        samples = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2") / 32768.0

    def rms_db(start: float, end: float) -> float:
        part = samples[int(start * rate) : int(end * rate)]
        return float(20 * np.log10(np.sqrt(np.mean(part**2)) + 1e-12))

    breaths = messy_recording.of_kind("breath")
    assert [rms_db(b.start, b.end) for b in breaths] == pytest.approx([-34, -38, -31], abs=0.5)
    room = [p for p in messy_recording.of_kind("pause") if p.duration >= 1.5]
    assert room
    for pause in room:
        assert rms_db(pause.start, pause.end) == pytest.approx(MESSY_ROOM_TONE_DB, abs=1.5)
    (click,) = messy_recording.of_kind("click")
    peak = float(np.max(np.abs(samples[int(click.start * rate) : int(click.end * rate) + 1])))
    assert 20 * np.log10(peak) == pytest.approx(-20, abs=1.0)
    assert rms_db(click.end + 0.05, click.end + 0.3) < -50  # a click, not a tone


def test_no_cut_enters_speech(messy_edit: Edit, messy_recording: Recording) -> None:
    cuts = [r for r in messy_edit.plan.regions if r.action == "cut"]
    for cut in cuts:
        for piece in messy_recording.of_kind("speech"):
            overlap = min(cut.end, piece.end) - max(cut.start, piece.start)
            assert overlap <= TOLERANCE, (
                f"cut {cut.start:.3f}-{cut.end:.3f} ({cut.reason}) enters {piece.text!r}"
            )


def test_pauses_holding_breaths_clicks_a_chair_and_room_tone_end_at_the_target(
    messy_edit: Edit, messy_recording: Recording
) -> None:
    options = JobOptions().planner
    target, padding = options.target_pause_ms / 1000, options.padding_ms / 1000
    timeline = messy_edit.timeline
    long_pauses = [
        p
        for p in pauses_between_sentences(messy_recording)
        if p.seconds > options.min_pause_ms / 1000
    ]
    assert len(long_pauses) == 5
    wrong = []
    for pause in long_pauses:
        _, ends_at = to_timeline(timeline, pause.before.end - 1e-3)
        _, resumes_at = to_timeline(timeline, pause.after.start)
        kept = resumes_at - (ends_at + 1e-3)
        if not target - padding - TOLERANCE <= kept <= target + padding + TOLERANCE:
            wrong.append(
                f"{pause.seconds:.2f} s pause of {sorted(pause.kinds)} after "
                f"{pause.before.text!r} kept {kept:.2f} s"
            )
    assert not wrong, f"target {target:.2f} ± {padding:.2f} s: " + "; ".join(wrong)


def test_every_sentence_and_the_quiet_answer_are_whole_in_the_output(
    messy_edit: Edit, messy_recording: Recording, messy_source: Samples
) -> None:
    broken = whole_sentences(messy_recording, messy_edit, messy_source)
    assert not broken, "\n".join(broken)


def test_the_quiet_answer_is_kept_in_the_plan(messy_edit: Edit, messy_recording: Recording) -> None:
    answer = next(p for p in messy_recording.of_kind("speech") if p.text == MESSY_QUIET_WORDS)
    kept = [r for r in messy_edit.plan.regions if r.action == "keep"]
    assert any(
        r.start <= answer.start + TOLERANCE and r.end >= answer.end - TOLERANCE for r in kept
    ), f"{MESSY_QUIET_WORDS!r} at {answer.start:.2f}-{answer.end:.2f} s is not kept whole"


# --- 3. subtitles true to the cut ---------------------------------------------------------------


def overlaps(a_start: float, a_end: float, piece: Piece) -> bool:
    return a_start < piece.end + TOLERANCE and a_end > piece.start - TOLERANCE


def test_whisper_misplaces_a_filler_in_this_talk(
    filler_edit: Edit, filler_recording: Recording
) -> None:
    """The premise of the next tests: the transcript has a filler away from its sound (Whisper
    tiny.en parks "Uh..." after the pause, on the next sentence's first word)."""
    fillers = filler_recording.of_kind("filler")
    written = [w for w in filler_edit.transcript.words() if set(normalise(w.word)) & FILLER_WORDS]
    misplaced = [w for w in written if not any(overlaps(w.start, w.end, f) for f in fillers)]
    assert misplaced, f"every filler Whisper wrote sits on its sound: {written}"


def test_every_filler_sound_is_cut_whole(filler_edit: Edit, filler_recording: Recording) -> None:
    cuts = [r for r in filler_edit.plan.regions if r.action == "cut"]
    for filler in filler_recording.of_kind("filler"):
        assert any(
            c.start <= filler.start + TOLERANCE and c.end >= filler.end - TOLERANCE for c in cuts
        ), f"filler {filler.text!r} at {filler.start:.2f}-{filler.end:.2f} s is not cut"


def test_subtitles_show_no_cut_filler_and_every_kept_word_in_order(
    filler_run: Run, filler_edit: Edit, filler_recording: Recording
) -> None:
    """Whisper mishears some words ("Some titles" for "Subtitles"), so the words that must be
    shown are the transcript's own non-filler words, which all belong to kept sentences here:
    exactly those, in order, nothing else."""
    srt = parse_srt((filler_edit.job_dir / "subtitles/final.srt").read_text())
    vtt = parse_vtt((filler_edit.job_dir / "subtitles/final.vtt").read_text())
    expected = [
        token
        for w in filler_edit.transcript.words()
        for token in normalise(w.word)
        if token not in FILLER_WORDS
    ]
    for name, cues in (("final.srt", srt), ("final.vtt", vtt)):
        shown = normalise(" ".join(" ".join(c.lines) for c in cues))
        assert not FILLER_WORDS & set(shown), f"{name} shows a cut filler: {shown}"
        assert shown == expected, f"{name} shows {shown}, the kept words are {expected}"
    # Against the script as well, so a transcript that lost whole sentences cannot pass.
    spoken = [w for p in filler_recording.of_kind("speech") for w in normalise(p.text)]
    found = sum(1 for w in spoken if w in expected)
    assert found >= 0.75 * len(spoken), f"only {found} of {len(spoken)} script words transcribed"


def test_subtitle_cues_follow_the_kept_sentences(
    filler_edit: Edit, filler_recording: Recording
) -> None:
    timeline = filler_edit.timeline
    cues = parse_srt((filler_edit.job_dir / "subtitles/final.srt").read_text())
    for piece in filler_recording.of_kind("speech"):
        _, start = to_timeline(timeline, piece.start)
        end = start + piece.duration
        covered = sum(max(0.0, min(c.end, end) - max(c.start, start)) for c in cues)
        assert covered >= 0.8 * piece.duration, (
            f"{piece.text!r} is {covered / piece.duration:.0%} covered"
        )


def test_every_sentence_of_the_filler_talk_is_whole(
    filler_edit: Edit, filler_recording: Recording
) -> None:
    broken = whole_sentences(filler_recording, filler_edit, decode(filler_recording.path))
    assert not broken, "\n".join(broken)


# --- 5. crossfades never fade over a word -------------------------------------------------------

REPLAN_STEPS = ("smart-cut-planner", "video-cuts", "video-transitions", "branding-layer")


def replan(messy_edit: Edit, source: Path, storage: Path, options: JobOptions) -> Edit:
    """A new job on the same recording that reuses the extracted audio and the transcript and
    runs only the planner and the render steps (in this process: the step handlers as the
    render service runs them, without paying an interpreter per step)."""
    keys: JobKeys = create_job(storage, source, options)
    job_dir = storage / keys.prefix
    for folder in ("audio", "transcripts"):
        shutil.copytree(messy_edit.job_dir / folder, job_dir / folder)

    async def run() -> None:
        backend = LocalStorage(storage)
        manifests = ManifestStore(backend)
        for step in REPLAN_STEPS:
            request = StepRequest(step=step, keys=keys, options=options, context={})
            outcome = await run_step(
                load_handlers("render")[step], request, storage=backend, manifests=manifests
            )
            assert outcome.ok, f"{step}: {outcome.error}"

    asyncio.run(run())
    return Edit(job_dir)


@pytest.mark.parametrize(
    ("fade_ms", "target_ms"), [(200, 100), (500, 200), (1000, 100), (2000, 200)]
)
def test_crossfades_of_any_length_keep_every_sentence_whole(
    fade_ms: int,
    target_ms: int,
    messy_edit: Edit,
    messy_recording: Recording,
    messy_source: Samples,
    tmp_path: Path,
) -> None:
    options = JobOptions.model_validate(
        {
            "transitions": {"enabled": True, "durationMs": fade_ms},
            "planner": {"targetPauseMs": target_ms},
            # Not what these cases look at, and loudnorm's dynamic mode doubles the encode.
            "audio": {"loudness": "off"},
        }
    )
    edit = replan(messy_edit, messy_recording.path, tmp_path / "storage", options)
    joins = [c.transition_in_sec for c in edit.timeline.clips[1:]]
    assert joins, "the edit has no joins"
    assert any(j > 0 for j in joins), "no crossfade at all: nothing was tested"
    assert all(j <= fade_ms / 1000 + 1e-6 for j in joins)
    broken = whole_sentences(messy_recording, edit, messy_source)
    assert not broken, f"{fade_ms} ms fades, {target_ms} ms target:\n" + "\n".join(broken)

"""The describing steps end to end on real storage and a real probed recording: plan, cut,
crossfade, subtitles. The transcript and analysis are hand-made (a Whisper-like misplaced
filler, a breath in a pause) so the truth is known; nothing is encoded."""

from __future__ import annotations

from pathlib import Path

import pytest

from talkavocado_common.captions import parse_srt, parse_vtt
from talkavocado_common.models import (
    AudioAnalysis,
    CutPlan,
    Interval,
    JobOptions,
    Segment,
    Timeline,
    Transcript,
    TransitionOptions,
    Word,
)
from talkavocado_common.steps import StepEnv, StepRequest
from talkavocado_common.topology import load_handlers
from tests.integration.render.conftest import Job

# "So, on your phone." — an "uhh" at 3.2-3.5 in the pause, Whisper parks it over "Thanks" —
# a breath at 6.3-6.6 in the next pause — "Thanks, bye."
WORDS = [
    (0.3, 0.6, " So,"),
    (0.7, 1.0, " on"),
    (1.0, 1.3, " your"),
    (1.3, 1.9, " phone."),
    (4.45, 4.75, " Uhh..."),
    (4.5, 5.2, " Thanks,"),
    (7.4, 7.9, " bye."),
]
SILENCES = [(0.0, 0.3), (1.9, 3.2), (3.5, 4.5), (5.2, 6.3), (6.6, 7.4), (7.9, 8.0)]
SPEECH = [(0.3, 1.9), (3.2, 3.5), (4.5, 5.2), (7.4, 7.9)]
KEPT = ["So,", "on", "your", "phone.", "Thanks,", "bye."]


def transcript(speech: list[tuple[float, float]] | None) -> Transcript:
    words = [Word(start=s, end=e, word=t, probability=0.8) for s, e, t in WORDS]
    return Transcript(
        language="en",
        duration_sec=8.0,
        model="tiny.en",
        segments=[Segment(id=0, start=0.3, end=7.9, text="", words=words)],
        speech=None if speech is None else [Interval(start=s, end=e) for s, e in speech],
    )


async def run_steps(job: Job, options: JobOptions, *steps: str) -> None:
    env = StepEnv(
        storage=job.storage, manifests=job.manifests, workdir=job.workdir, progress=lambda *_: None
    )
    for step in steps:
        await load_handlers("render")[step](
            StepRequest(step=step, keys=job.keys, options=options), env
        )


@pytest.fixture
async def prepared(job: Job, sync_source: Path) -> Job:
    await job.prepare(sync_source, None)
    analysis = AudioAnalysis(
        duration_sec=8.0,
        sample_rate=16_000,
        integrated_lufs=-20.0,
        noise_floor_db=-70.0,
        speech_level_db=-20.0,
        silence_threshold_db=-50.0,
        frame_ms=10,
        min_silence_ms=100,
        silences=[Interval(start=s, end=e) for s, e in SILENCES],
    )
    await job.put_analysis(analysis)
    return job


async def shown_words(job: Job) -> list[str]:
    srt = job.path_of(job.keys.final_subtitles("srt")).read_text()
    vtt = job.path_of(job.keys.final_subtitles("vtt")).read_text()
    assert parse_vtt(vtt) == parse_srt(srt)
    return " ".join(" ".join(c.lines) for c in parse_srt(srt)).split()


@pytest.mark.parametrize("fade_ms", [200, 2000])
async def test_subtitles_follow_the_cut_and_crossfades_stay_in_the_quiet(
    prepared: Job, fade_ms: int
) -> None:
    job = prepared
    await job.storage.write_bytes(job.keys.transcript_json, transcript(SPEECH).to_json_bytes())
    options = JobOptions(transitions=TransitionOptions(enabled=True, duration_ms=fade_ms))
    await run_steps(
        job,
        options,
        "smart-cut-planner",
        "video-cuts",
        "video-transitions",
        "subtitles-post-edit",
    )
    plan = CutPlan.model_validate_json(job.path_of(job.keys.cut_plan).read_bytes())
    assert [(r.reason, r.text) for r in plan.regions if r.action == "cut"] == [
        ("filler", "uhh"),
        ("pause", None),
    ]
    assert await shown_words(job) == KEPT
    timeline = Timeline.model_validate_json(job.path_of(job.keys.timeline).read_bytes())
    assert len(timeline.clips) == 3
    for previous, clip in zip(timeline.clips, timeline.clips[1:], strict=False):
        assert previous.trail_silence_sec is not None
        assert clip.lead_silence_sec is not None
        assert 0 < clip.transition_in_sec <= min(previous.trail_silence_sec, clip.lead_silence_sec)
        faded = [
            (previous.source_end - clip.transition_in_sec, previous.source_end),
            (clip.source_start, clip.source_start + clip.transition_in_sec),
        ]
        for a, b in faded:
            for s, e in SPEECH:
                assert b <= s or a >= e, f"a {fade_ms} ms fade reaches speech at {s}-{e}"


async def test_an_older_plan_without_words_still_gets_subtitles(prepared: Job) -> None:
    job = prepared
    await job.storage.write_bytes(job.keys.transcript_json, transcript(None).to_json_bytes())
    await run_steps(job, JobOptions(), "smart-cut-planner", "video-cuts")
    plan = CutPlan.model_validate_json(job.path_of(job.keys.cut_plan).read_bytes())
    await job.storage.write_bytes(
        job.keys.cut_plan, plan.model_copy(update={"words": None}).to_json_bytes()
    )
    await run_steps(job, JobOptions(), "subtitles-post-edit")
    # The transcript's middle rule: the parked filler sits over "Thanks," in a kept region.
    assert await shown_words(job) == [*KEPT[:4], "Uhh...", *KEPT[4:]]

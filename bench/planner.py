"""Benchmark: the smart cut planner on synthetic talks of growing length.

For each length, a deterministic talk is generated as the planner sees it: phrases of words
(each word its own sound island, some split by a short closure), pauses between phrases that
sometimes hold a breath (sound outside the VAD's speech), and fillers that Whisper placed over
the start of the next word. Reported: words, islands, the planner's wall time (best of a few
runs), and its ratio to a linear baseline measured in the same run — sorting the same words and
silences, which any planner must at least do. A planner that is O(n log n) keeps that ratio
roughly flat as the talk grows; a quadratic one sees it grow with the length. Figures are printed,
never asserted: these machines are shared and noisy.

    .venv/bin/python -m bench.planner [--minutes 5,20,60,120]
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable

from talkavocado_common.models import (
    AudioAnalysis,
    Interval,
    PlannerOptions,
    Segment,
    Transcript,
    Word,
)
from talkavocado_common.planning.planner import plan_cuts


def synthetic_talk(minutes: float, seed: int = 8) -> tuple[Transcript, AudioAnalysis]:
    rng = random.Random(seed)
    duration = minutes * 60
    t = 0.5
    words: list[Word] = []
    silences: list[Interval] = [Interval(start=0.0, end=t)]
    speech: list[Interval] = []
    while t < duration - 10:
        phrase_start = t
        for _ in range(rng.randint(3, 12)):
            length = rng.uniform(0.15, 0.5)
            if rng.random() < 0.3:  # a stop closure inside the word
                closure = rng.uniform(t + 0.05, t + length - 0.07)
                silences.append(Interval(start=closure, end=closure + 0.04))
            words.append(Word(start=t, end=t + length, word=" word", probability=0.9))
            t += length
            gap = rng.choice([0.0, 0.0, 0.12])
            if gap:
                silences.append(Interval(start=t, end=t + gap))
            t += gap
        speech.append(Interval(start=phrase_start, end=t))
        pause = rng.uniform(0.3, 3.0)
        pause_start = t
        if rng.random() < 0.3 and pause > 1.0:  # a breath inside the pause
            breath = rng.uniform(t + 0.2, t + pause - 0.6)
            silences.append(Interval(start=t, end=breath))
            silences.append(Interval(start=breath + 0.3, end=t + pause))
        elif rng.random() < 0.1 and pause > 1.0:  # an "um" Whisper parked over the next word
            um = t + pause / 2
            silences.append(Interval(start=t, end=um))
            silences.append(Interval(start=um + 0.3, end=t + pause))
            speech.append(Interval(start=um, end=um + 0.3))
            words.append(
                Word(start=t + pause - 0.05, end=t + pause + 0.2, word=" um", probability=0.5)
            )
        else:
            silences.append(Interval(start=pause_start, end=t + pause))
        t += pause
    silences.append(Interval(start=t, end=duration))
    words.sort(key=lambda w: (w.start, w.end))
    segments = [
        Segment(id=i, start=chunk[0].start, end=chunk[-1].end, text="", words=chunk)
        for i, chunk in enumerate(words[k : k + 20] for k in range(0, len(words), 20))
    ]
    transcript = Transcript(
        language="en",
        duration_sec=duration,
        model="synthetic",
        segments=segments,
        speech=sorted(speech, key=lambda s: s.start),
    )
    analysis = AudioAnalysis(
        duration_sec=duration,
        sample_rate=16000,
        integrated_lufs=-20.0,
        noise_floor_db=-60.0,
        speech_level_db=-20.0,
        silence_threshold_db=-45.0,
        frame_ms=10,
        min_silence_ms=30,
        silences=silences,
    )
    return transcript, analysis


def best_of(run: Callable[[], object], budget_sec: float = 3.0, most: int = 5) -> float:
    """Best wall time of up to `most` runs, fewer when one run already takes the budget."""
    times: list[float] = []
    while len(times) < most and sum(times) < budget_sec:
        began = time.perf_counter()
        run()
        times.append(time.perf_counter() - began)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", default="5,20,60,120")
    args = parser.parse_args()
    options = PlannerOptions()
    print(f"{'minutes':>7} {'words':>7} {'silences':>8} {'plan s':>8} {'sort s':>8} {'ratio':>7}")
    for minutes in (float(m) for m in args.minutes.split(",")):
        transcript, analysis = synthetic_talk(minutes)
        words = transcript.words()

        def sort_inputs(words: list[Word] = words, an: AudioAnalysis = analysis) -> object:
            return (
                sorted(words, key=lambda w: (w.start, w.end)),
                sorted(an.silences, key=lambda s: s.start),
            )

        def plan(tr: Transcript = transcript, an: AudioAnalysis = analysis) -> object:
            return plan_cuts(tr, an, options)

        planner_sec = best_of(plan)
        baseline_sec = best_of(sort_inputs)
        print(
            f"{minutes:7g} {len(words):7d} {len(analysis.silences):8d} "
            f"{planner_sec:8.3f} {baseline_sec:8.4f} {planner_sec / baseline_sec:7.0f}"
        )


if __name__ == "__main__":
    main()

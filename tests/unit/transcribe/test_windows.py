"""Window planning: cuts inside silences near the target length, hard cuts only without one."""

from __future__ import annotations

import math
from itertools import pairwise

import pytest

from talkavocado_transcribe.core.windows import Window, WindowPolicy, plan_windows

POLICY = WindowPolicy(min_sec=30, target_sec=60, max_sec=120, overlap_sec=10)


def check_cover(windows: list[Window], duration: float, policy: WindowPolicy) -> None:
    assert windows[0].start == 0
    assert windows[-1].end == duration
    for a, b in pairwise(windows):
        if b.hard_start:
            assert b.start == pytest.approx(a.end - policy.overlap_sec)
        else:
            assert b.start == a.end
    for w in windows:
        assert w.duration <= policy.max_sec + 1e-9


def test_short_recording_is_one_window() -> None:
    assert plan_windows(100.0, [(50.0, 51.0)], POLICY) == [Window(0.0, 100.0)]


def test_nothing_to_plan_for_an_empty_recording() -> None:
    assert plan_windows(0.0, [], POLICY) == []


def test_cuts_in_the_middle_of_the_silence_nearest_the_target() -> None:
    silences = [(20.0, 21.0), (59.0, 60.0), (100.0, 101.0), (150.0, 151.0)]
    windows = plan_windows(200.0, silences, POLICY)
    assert windows == [Window(0.0, 59.5), Window(59.5, 100.5), Window(100.5, 200.0)]
    check_cover(windows, 200.0, POLICY)


def test_a_longer_silence_wins_over_a_slightly_nearer_one() -> None:
    # 0.3 s at the target against 1.5 s five seconds later: the longer one is the safer cut.
    windows = plan_windows(300.0, [(59.85, 60.15), (64.25, 65.75)], POLICY)
    assert windows[0] == Window(0.0, 65.0)


def test_a_much_farther_silence_loses_to_one_near_the_target() -> None:
    # 0.5 s at the target against 2 s, 60 s away (the silence length counts up to 2 s).
    windows = plan_windows(300.0, [(59.75, 60.25), (118.0, 120.0)], POLICY)
    assert windows[0] == Window(0.0, 60.0)


def test_silences_before_the_minimum_are_not_used() -> None:
    windows = plan_windows(300.0, [(10.0, 12.0), (29.0, 29.8)], POLICY)
    assert windows[0].hard_start is False
    assert windows[0].end == 120.0  # no cut in reach: hard at the maximum
    assert windows[1].hard_start is True


def test_hard_cut_overlaps_the_next_window() -> None:
    windows = plan_windows(250.0, [], POLICY)
    assert windows == [
        Window(0.0, 120.0),
        Window(110.0, 230.0, hard_start=True),
        Window(220.0, 250.0, hard_start=True),
    ]
    check_cover(windows, 250.0, POLICY)


def test_the_last_window_is_not_left_tiny() -> None:
    # A silence at 119 s would leave a 3 s last window: the cut must leave min_sec.
    windows = plan_windows(122.0 + 0.5, [(60.0, 60.4), (119.0, 119.4)], POLICY)
    assert windows == [Window(0.0, 60.2), Window(60.2, 122.5)]
    assert all(w.duration >= POLICY.min_sec for w in windows)


def test_every_window_of_a_long_talk_respects_the_policy() -> None:
    # A pause of 0.4 s every 7 s for an hour.
    duration = 3600.0
    silences = [(t, t + 0.4) for t in [7.0 * k for k in range(1, 514)]]
    windows = plan_windows(duration, silences, POLICY)
    check_cover(windows, duration, POLICY)
    assert not any(w.hard_start for w in windows)
    assert all(POLICY.min_sec <= w.duration for w in windows)
    assert all(abs(w.duration - POLICY.target_sec) <= 7 for w in windows[:-1])
    cuts = [w.end for w in windows[:-1]]
    assert all(any(a < c < a + 0.4 for a, _ in silences) for c in cuts)


def test_unsorted_silences_are_fine() -> None:
    silences = [(150.0, 151.0), (59.0, 60.0), (100.0, 101.0)]
    assert plan_windows(200.0, silences, POLICY) == plan_windows(200.0, sorted(silences), POLICY)


def test_whole_policy_is_one_window_for_any_length() -> None:
    assert plan_windows(7200.0, [(60.0, 61.0)], WindowPolicy.whole()) == [Window(0.0, 7200.0)]
    assert math.isinf(WindowPolicy.whole().max_sec)


@pytest.mark.parametrize(
    ("lengths", "overlap"), [((40, 30, 120), 5), ((30, 60, 50), 5), ((30, 60, 120), 30)]
)
def test_inconsistent_policies_are_refused(
    lengths: tuple[float, float, float], overlap: float
) -> None:
    with pytest.raises(ValueError, match="must"):
        WindowPolicy(*lengths, overlap_sec=overlap)

"""Levels, noise floor and silences of a mono recording, measured against the recording itself.

A fixed threshold (say -35 dBFS) finds no pause at all in a room whose background sits at
-30 dBFS, and calls a quiet speaker's soft consonants silence. So both reference points come
from the recording: the noise floor is a low percentile of the short-window levels (the pauses),
the speech level a high one (the voiced parts), and the threshold sits between them.

Two measures vote. The broadband level (RMS in dBFS: a full-scale square wave is 0 dBFS, a
full-scale sine -3 dBFS) carries the voiced speech. The presence band (2-8 kHz) carries the
fricatives that start and end many words — f, th, s, the release of a final p — which in a room
sit at the level of the broadband noise and vanish in it; room noise is mostly low-frequency, so
in that band they stand clear of a steady floor. A window is quiet only when both are below
their thresholds; a silence is the stretch covered by consecutive quiet windows, reported when it
lasts at least `min_silence_ms` (stop closures inside words last 40-100 ms and must not show).
Two small smoothings: a broadband-only blip of up to `max_blip_ms` (room rumble) does not split
a pause, and in a noisy room a silence after sound starts `masked_tail_hangover_ms` later.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from talkavocado_common.models import AudioAnalysis, Interval

from .levels import (
    LEVEL_FLOOR_DB,
    LevelArray,
    LevelMeter,
    Levels,
    WindowGeometry,
    measure_levels,
)
from .loudness import Loudness

BoolArray = npt.NDArray[np.bool_]

# A recording whose loud parts stay below this has nothing audible in it.
INAUDIBLE_DB = -60.0


@dataclass(frozen=True)
class SilenceSettings:
    """How silences are measured. The defaults are tuned on speech; see `silence_threshold_db`."""

    window_ms: int = 20
    hop_ms: int = 10
    min_silence_ms: int = 120
    noise_floor_percentile: float = 10.0
    speech_level_percentile: float = 95.0
    min_margin_db: float = 6.0
    margin_fraction: float = 0.3
    # Narrow-band noise levels barely fluctuate (many cycles per window), so the presence band
    # can sit closer to its floor and still never mistake the room for a consonant.
    presence_min_margin_db: float = 3.0
    presence_margin_fraction: float = 0.2
    # Anything this far below the speech level is inaudible next to it, however clean the room.
    max_depth_below_speech_db: float = 40.0
    # Broadband sound this short, with nothing in the presence band, between two quiet stretches
    # is a fluctuation of low-frequency room noise or a thump, not a word (the shortest, a
    # filler "um" that lives below 2 kHz, lasts 150 ms and more).
    max_blip_ms: int = 10
    # Where room noise masks the quiet ends of words (a final p's release, a fading s), a
    # silence after sound starts this much later: the tail is there, only drowned.
    masked_tail_hangover_ms: int = 30

    def __post_init__(self) -> None:
        if self.hop_ms <= 0 or self.window_ms <= 0 or self.window_ms % self.hop_ms:
            raise ValueError("window_ms must be a positive multiple of hop_ms")
        if self.min_silence_ms <= 0:
            raise ValueError("min_silence_ms must be positive")
        if not 0 <= self.noise_floor_percentile < self.speech_level_percentile <= 100:
            raise ValueError("need 0 <= noise_floor_percentile < speech_level_percentile <= 100")


DEFAULT_SETTINGS = SilenceSettings()


@dataclass(frozen=True)
class LevelStats:
    """One measure's reference points and the threshold chosen between them (dB)."""

    noise_floor_db: float
    speech_level_db: float
    threshold_db: float
    # False when floor and speech are too close to tell apart: the measure cannot vote.
    informative: bool
    # True when the room's noise, not the depth under speech, set the threshold: the quiet
    # ends of words are then partly under the noise.
    floor_bound: bool


def window_geometry(
    sample_rate: int, settings: SilenceSettings = DEFAULT_SETTINGS
) -> WindowGeometry:
    return WindowGeometry.of(sample_rate, settings.window_ms, settings.hop_ms)


def frame_levels_db(
    samples: npt.NDArray[np.generic],
    sample_rate: int,
    settings: SilenceSettings = DEFAULT_SETTINGS,
) -> LevelArray:
    """Broadband RMS level (dBFS) of each `window_ms` window, one every `hop_ms`."""
    return measure_levels(samples, window_geometry(sample_rate, settings)).broadband_db


def presence_levels_db(
    samples: npt.NDArray[np.generic],
    sample_rate: int,
    settings: SilenceSettings = DEFAULT_SETTINGS,
) -> LevelArray | None:
    """Level (dBFS) of the 2-8 kHz band on the same windows; None when the rate cannot hold it."""
    return measure_levels(samples, window_geometry(sample_rate, settings)).presence_db


def silence_threshold_db(
    noise_floor_db: float,
    speech_level_db: float,
    settings: SilenceSettings = DEFAULT_SETTINGS,
    *,
    min_margin_db: float | None = None,
    margin_fraction: float | None = None,
) -> float:
    """Where quiet ends, between the recording's own noise floor and its speech level.

    Above the floor by at least `min_margin_db` — broadband room noise on 20 ms windows wanders
    about ±3 dB around its median, and the floor is a low percentile of it — and by
    `margin_fraction` of the floor-to-speech contrast, so the threshold stays in the lower
    third of that range where soft consonants and word tails (15-25 dB under the speech level)
    still count as sound. Never deeper than `max_depth_below_speech_db` under speech: in a clean
    recording the floor is digital silence, and the codec's faint smear around words
    (inaudible, 40+ dB down) would otherwise eat into every pause.

    With almost no contrast the recording is one population: all quiet when even its loud parts
    are inaudible, otherwise all sound, and only a real dip below the floor is quiet.
    """
    margin_min = settings.min_margin_db if min_margin_db is None else min_margin_db
    fraction = settings.margin_fraction if margin_fraction is None else margin_fraction
    contrast = speech_level_db - noise_floor_db
    if contrast < 2 * margin_min:
        if speech_level_db < INAUDIBLE_DB:
            return speech_level_db + margin_min
        return noise_floor_db - margin_min
    margin = max(margin_min, fraction * contrast)
    return max(noise_floor_db + margin, speech_level_db - settings.max_depth_below_speech_db)


def level_stats(
    levels_db: LevelArray,
    settings: SilenceSettings = DEFAULT_SETTINGS,
    *,
    min_margin_db: float | None = None,
    margin_fraction: float | None = None,
) -> LevelStats:
    if len(levels_db):
        # Both in one call: one working copy of the levels, not two.
        percentiles = np.percentile(
            levels_db, [settings.noise_floor_percentile, settings.speech_level_percentile]
        )
        floor, speech = float(percentiles[0]), float(percentiles[1])
    else:
        floor = speech = LEVEL_FLOOR_DB
    threshold = silence_threshold_db(
        floor, speech, settings, min_margin_db=min_margin_db, margin_fraction=margin_fraction
    )
    margin_min = settings.min_margin_db if min_margin_db is None else min_margin_db
    return LevelStats(
        floor,
        speech,
        threshold,
        informative=speech - floor >= 2 * margin_min,
        floor_bound=threshold > speech - settings.max_depth_below_speech_db,
    )


def _runs(mask: BoolArray) -> list[tuple[int, int]]:
    """[start, end) index ranges where `mask` is True."""
    padded = np.concatenate(([False], mask, [False])).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def bridge_blips(quiet: BoolArray, blip_allowed: BoolArray, max_windows: int) -> BoolArray:
    """Quiet on both sides of at most `max_windows` sound windows that all allow it: quiet."""
    bridged = quiet.copy()
    for first, last in _runs(~quiet):
        inside = first > 0 and last < len(quiet)
        if inside and last - first <= max_windows and bool(np.all(blip_allowed[first:last])):
            bridged[first:last] = True
    return bridged


def silences_from_quiet_windows(
    quiet_windows: BoolArray,
    *,
    sample_rate: int,
    sample_count: int,
    settings: SilenceSettings = DEFAULT_SETTINGS,
    hangover_sec: float = 0.0,
) -> list[Interval]:
    """Silences (seconds): the stretches covered by runs of quiet windows, long enough to count.

    `hangover_sec` delays the start of every silence that follows sound.
    """
    windows = window_geometry(sample_rate, settings)
    hop, window = windows.hop, windows.window
    duration = sample_count / sample_rate
    min_silence = settings.min_silence_ms / 1000
    silences: list[Interval] = []
    for first, last in _runs(quiet_windows):
        start = first * hop / sample_rate + (hangover_sec if first > 0 else 0.0)
        end = min(duration, ((last - 1) * hop + window) / sample_rate)
        whole_recording = first == 0 and last == len(quiet_windows)
        # A recording with no sound at all is one silence however short: it has no words to keep.
        if end - start >= min_silence or (whole_recording and end > start):
            silences.append(Interval(start=round(start, 3), end=round(end, 3)))
    return silences


def analyze_audio(
    samples: npt.NDArray[np.generic],
    sample_rate: int,
    *,
    loudness: Loudness | None = None,
    settings: SilenceSettings = DEFAULT_SETTINGS,
) -> AudioAnalysis:
    """Levels and silences of mono samples (int16, or float in [-1, 1]) held in memory."""
    levels = measure_levels(samples, window_geometry(sample_rate, settings))
    return analyze_levels(levels, loudness=loudness, settings=settings)


def analyze_blocks(
    blocks: Iterable[npt.NDArray[np.generic]],
    sample_rate: int,
    *,
    loudness: Loudness | None = None,
    settings: SilenceSettings = DEFAULT_SETTINGS,
) -> AudioAnalysis:
    """`analyze_audio` of the blocks joined end to end, holding one block at a time."""
    meter = LevelMeter(window_geometry(sample_rate, settings))
    for block in blocks:
        meter.feed(block)
    return analyze_levels(meter.finish(), loudness=loudness, settings=settings)


def analyze_levels(
    levels: Levels,
    *,
    loudness: Loudness | None = None,
    settings: SilenceSettings = DEFAULT_SETTINGS,
) -> AudioAnalysis:
    """Noise floor, speech level, threshold and silences from the per-window levels."""
    broadband, presence = levels.broadband_db, levels.presence_db
    sample_rate, sample_count = levels.geometry.sample_rate, levels.sample_count
    stats = level_stats(broadband, settings)
    quiet = broadband < stats.threshold_db
    presence_quiet = np.ones_like(quiet)
    if presence is not None and stats.informative:
        presence_stats = level_stats(
            presence,
            settings,
            min_margin_db=settings.presence_min_margin_db,
            margin_fraction=settings.presence_margin_fraction,
        )
        if presence_stats.informative:
            presence_quiet = presence < presence_stats.threshold_db
    # Windows overlap by window/hop; a blip of `max_blip_ms` touches that many windows more.
    blip_windows = (
        (settings.max_blip_ms + settings.window_ms) // settings.hop_ms - 1
        if settings.max_blip_ms > 0
        else 0
    )
    quiet = bridge_blips(quiet, presence_quiet, blip_windows) & presence_quiet
    hangover = settings.masked_tail_hangover_ms / 1000 if stats.floor_bound else 0.0
    silences = silences_from_quiet_windows(
        quiet,
        sample_rate=sample_rate,
        sample_count=sample_count,
        settings=settings,
        hangover_sec=hangover,
    )
    loudness = loudness or Loudness()
    return AudioAnalysis(
        duration_sec=round(sample_count / sample_rate, 3),
        sample_rate=sample_rate,
        integrated_lufs=loudness.integrated_lufs,
        true_peak_dbtp=loudness.true_peak_dbtp,
        loudness_range_lu=loudness.range_lu,
        loudness_threshold_lufs=loudness.threshold_lufs,
        noise_floor_db=round(stats.noise_floor_db, 2),
        speech_level_db=round(stats.speech_level_db, 2),
        silence_threshold_db=round(stats.threshold_db, 2),
        frame_ms=settings.window_ms,
        min_silence_ms=settings.min_silence_ms,
        silences=silences,
    )

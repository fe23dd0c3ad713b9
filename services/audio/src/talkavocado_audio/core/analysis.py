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

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from talkavocado_common.models import AudioAnalysis, Interval

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

# Below this a level carries no information: int16 audio cannot go lower than about -101 dBFS
# (dithered silence) and digital zero would be -inf, which JSON cannot hold.
LEVEL_FLOOR_DB = -100.0
# A recording whose loud parts stay below this has nothing audible in it.
INAUDIBLE_DB = -60.0
INT16_FULL_SCALE = 32768.0
PRESENCE_BAND_HZ = (2000.0, 8000.0)
# Windows per numpy batch: bounds the memory the spectra of a long recording take.
_WINDOWS_PER_BATCH = 8192


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


def to_unit_float(samples: npt.NDArray[np.generic]) -> FloatArray:
    """Samples scaled to [-1, 1]: integers are taken as int16, floats as they are."""
    array = np.asarray(samples)
    if array.ndim != 1:
        raise ValueError(f"expected mono samples (1-D), got shape {array.shape}")
    if np.issubdtype(array.dtype, np.integer):
        return array.astype(np.float64) / INT16_FULL_SCALE
    return array.astype(np.float64)


def _geometry(sample_rate: int, settings: SilenceSettings) -> tuple[int, int]:
    """(hop, window) in samples."""
    if sample_rate <= 0:
        raise ValueError(f"sample rate must be positive, got {sample_rate}")
    hop = max(1, round(sample_rate * settings.hop_ms / 1000))
    return hop, hop * (settings.window_ms // settings.hop_ms)


def window_count(sample_count: int, hop: int, window: int) -> int:
    """Windows starting every hop while a whole window fits; one when the audio is shorter."""
    if sample_count == 0:
        return 0
    return max(1, -(-(sample_count - window) // hop) + 1)


def _batches(
    samples: npt.NDArray[np.generic], hop: int, window: int
) -> list[tuple[npt.NDArray[np.float64], int]]:
    """The audio as [windows, window] float frames, a batch at a time, zero-padded at the end."""
    count = window_count(len(samples), hop, window)
    batches: list[tuple[FloatArray, int]] = []
    for first in range(0, count, _WINDOWS_PER_BATCH):
        last = min(count, first + _WINDOWS_PER_BATCH)
        start, stop = first * hop, (last - 1) * hop + window
        chunk = to_unit_float(samples[start:stop])
        if len(chunk) < stop - start:
            chunk = np.concatenate((chunk, np.zeros(stop - start - len(chunk))))
        frames = np.lib.stride_tricks.sliding_window_view(chunk, window)[::hop]
        batches.append((frames, first))
    return batches


def power_to_db(mean_square: FloatArray) -> FloatArray:
    with np.errstate(divide="ignore"):
        levels = 10.0 * np.log10(mean_square)
    return np.maximum(levels, LEVEL_FLOOR_DB)


def frame_levels_db(
    samples: npt.NDArray[np.generic],
    sample_rate: int,
    settings: SilenceSettings = DEFAULT_SETTINGS,
) -> FloatArray:
    """Broadband RMS level (dBFS) of each `window_ms` window, one every `hop_ms`.

    Rectangular windows: a quiet window means every sample in it is quiet, which keeps the
    edges of a silence exact to the hop. Padding past the end counts as digital silence.
    """
    hop, window = _geometry(sample_rate, settings)
    if len(samples) < window:
        # A recording shorter than one window is measured over what there is.
        whole = to_unit_float(samples)
        return power_to_db(np.array([float(np.mean(np.square(whole)))])) if len(whole) else whole
    levels = np.empty(window_count(len(samples), hop, window))
    for frames, first in _batches(samples, hop, window):
        levels[first : first + len(frames)] = power_to_db(np.mean(np.square(frames), axis=1))
    return levels


def presence_levels_db(
    samples: npt.NDArray[np.generic],
    sample_rate: int,
    settings: SilenceSettings = DEFAULT_SETTINGS,
) -> FloatArray | None:
    """Level (dBFS) of the 2-8 kHz band on the same windows; None when the rate cannot hold it."""
    hop, window = _geometry(sample_rate, settings)
    if len(samples) == 0:
        return None
    low, high = PRESENCE_BAND_HZ
    high = min(high, sample_rate / 2)
    size = min(window, len(samples))
    bins = np.fft.rfftfreq(size, 1 / sample_rate)
    band = (bins >= low) & (bins < high)
    if not band.any():
        return None
    taper = np.hanning(size)
    # Parseval with a taper: mean square of the band = 2·Σ|X_k|² over its bins / (N·Σw²).
    scale = 2.0 / (size * float(np.sum(np.square(taper))))
    if len(samples) < window:
        spectrum = np.fft.rfft(to_unit_float(samples) * taper)
        return power_to_db(np.array([scale * float(np.sum(np.abs(spectrum[band]) ** 2))]))
    levels = np.empty(window_count(len(samples), hop, window))
    for frames, first in _batches(samples, hop, window):
        spectra = np.fft.rfft(frames * taper, axis=1)[:, band]
        power = scale * np.sum(np.square(np.abs(spectra)), axis=1)
        levels[first : first + len(frames)] = power_to_db(power)
    return levels


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
    levels_db: FloatArray,
    settings: SilenceSettings = DEFAULT_SETTINGS,
    *,
    min_margin_db: float | None = None,
    margin_fraction: float | None = None,
) -> LevelStats:
    if len(levels_db):
        floor = float(np.percentile(levels_db, settings.noise_floor_percentile))
        speech = float(np.percentile(levels_db, settings.speech_level_percentile))
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
    hop, window = _geometry(sample_rate, settings)
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
    integrated_lufs: float | None = None,
    settings: SilenceSettings = DEFAULT_SETTINGS,
) -> AudioAnalysis:
    """Levels and silences of mono samples (int16, or float in [-1, 1])."""
    broadband = frame_levels_db(samples, sample_rate, settings)
    stats = level_stats(broadband, settings)
    quiet = broadband < stats.threshold_db
    presence_quiet = np.ones_like(quiet)
    presence = presence_levels_db(samples, sample_rate, settings)
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
        sample_count=len(samples),
        settings=settings,
        hangover_sec=hangover,
    )
    return AudioAnalysis(
        duration_sec=round(len(samples) / sample_rate, 3),
        sample_rate=sample_rate,
        integrated_lufs=integrated_lufs,
        noise_floor_db=round(stats.noise_floor_db, 2),
        speech_level_db=round(stats.speech_level_db, 2),
        silence_threshold_db=round(stats.threshold_db, 2),
        frame_ms=settings.window_ms,
        min_silence_ms=settings.min_silence_ms,
        silences=silences,
    )

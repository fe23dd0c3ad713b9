"""The audio step's pure logic: no files, no subprocesses, no storage."""

from .analysis import (
    DEFAULT_SETTINGS,
    LevelStats,
    SilenceSettings,
    analyze_audio,
    analyze_blocks,
    analyze_levels,
    frame_levels_db,
    level_stats,
    presence_levels_db,
    silence_threshold_db,
    window_geometry,
)
from .commands import ASR_SAMPLE_RATE, extraction_args
from .inputs import (
    explain_decode_failure,
    explain_unreadable,
    looks_like_iso_media,
    media_problem,
    truncation_problem,
)
from .levels import LEVEL_FLOOR_DB, LevelMeter, Levels, WindowGeometry, measure_levels
from .loudness import Loudness, parse_integrated_loudness, parse_loudness

__all__ = [
    "ASR_SAMPLE_RATE",
    "DEFAULT_SETTINGS",
    "LEVEL_FLOOR_DB",
    "LevelMeter",
    "LevelStats",
    "Levels",
    "Loudness",
    "SilenceSettings",
    "WindowGeometry",
    "analyze_audio",
    "analyze_blocks",
    "analyze_levels",
    "explain_decode_failure",
    "explain_unreadable",
    "extraction_args",
    "frame_levels_db",
    "level_stats",
    "looks_like_iso_media",
    "measure_levels",
    "media_problem",
    "parse_integrated_loudness",
    "parse_loudness",
    "presence_levels_db",
    "silence_threshold_db",
    "truncation_problem",
    "window_geometry",
]

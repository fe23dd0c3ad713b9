"""The audio step's pure logic: no files, no subprocesses, no storage."""

from .analysis import (
    DEFAULT_SETTINGS,
    LEVEL_FLOOR_DB,
    LevelStats,
    SilenceSettings,
    analyze_audio,
    frame_levels_db,
    level_stats,
    presence_levels_db,
    silence_threshold_db,
)
from .commands import ASR_SAMPLE_RATE, extraction_args
from .inputs import (
    explain_decode_failure,
    explain_unreadable,
    looks_like_iso_media,
    media_problem,
    truncation_problem,
)
from .loudness import parse_integrated_loudness

__all__ = [
    "ASR_SAMPLE_RATE",
    "DEFAULT_SETTINGS",
    "LEVEL_FLOOR_DB",
    "LevelStats",
    "SilenceSettings",
    "analyze_audio",
    "explain_decode_failure",
    "explain_unreadable",
    "extraction_args",
    "frame_levels_db",
    "level_stats",
    "looks_like_iso_media",
    "media_problem",
    "parse_integrated_loudness",
    "presence_levels_db",
    "silence_threshold_db",
    "truncation_problem",
]

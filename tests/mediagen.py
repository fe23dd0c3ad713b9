"""Test media with exact ground truth (the generator lives in the CLI: `avocado sample`)."""

from talkavocado_cli.samplegen import (
    DEMO_SCRIPT,
    MESSY_QUIET_WORDS,
    MESSY_ROOM_TONE_DB,
    MESSY_SCRIPT,
    MISPLACED_FILLER_SCRIPT,
    Noise,
    Pause,
    Piece,
    Recording,
    Say,
    Script,
    long_script,
    make_audio,
    make_recording,
    silence,
    speak,
)

__all__ = [
    "DEMO_SCRIPT",
    "MESSY_QUIET_WORDS",
    "MESSY_ROOM_TONE_DB",
    "MESSY_SCRIPT",
    "MISPLACED_FILLER_SCRIPT",
    "Noise",
    "Pause",
    "Piece",
    "Recording",
    "Say",
    "Script",
    "long_script",
    "make_audio",
    "make_recording",
    "silence",
    "speak",
]

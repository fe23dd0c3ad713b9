"""Test media with exact ground truth (the generator lives in the CLI: `avocado sample`)."""

from talkavocado_cli.samplegen import (
    DEMO_SCRIPT,
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

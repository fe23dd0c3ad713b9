"""TalkAvocado audio: the audio-extraction step."""

from .handler import audio_extraction

__all__ = ["audio_extraction"]

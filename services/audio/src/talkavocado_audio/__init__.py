"""TalkAvocado audio: the audio-extraction step."""

from .handler import HANDLERS, audio_extraction

__all__ = ["HANDLERS", "audio_extraction"]

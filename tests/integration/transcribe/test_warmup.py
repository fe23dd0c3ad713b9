"""The transcribe service's warm-up: the model is in the process cache before any job."""

from __future__ import annotations

import pytest

from talkavocado_common.steps import StepError
from talkavocado_transcribe import engine
from talkavocado_transcribe.core import resolve_model
from talkavocado_transcribe.handler import warmup
from talkavocado_transcribe.settings import TranscribeSettings


async def test_warmup_loads_the_configured_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine, "_models", {})
    await warmup(TranscribeSettings(TRANSCRIBE_WARMUP_MODEL="tiny.en"))
    location = resolve_model("tiny.en").location
    assert set(engine._models) == {location}
    loaded = engine._models[location]
    # The step's own load now returns the very same object: nothing is loaded twice.
    assert engine.load_model(resolve_model("tiny.en")) is loaded


async def test_warmup_can_be_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine, "_models", {})
    await warmup(TranscribeSettings(TRANSCRIBE_WARMUP_MODEL=""))
    assert engine._models == {}


async def test_a_model_that_cannot_load_fails_the_warmup(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine, "_models", {})
    with pytest.raises(StepError, match="does not exist"):
        await warmup(TranscribeSettings(TRANSCRIBE_WARMUP_MODEL="/nonexistent/model-dir"))

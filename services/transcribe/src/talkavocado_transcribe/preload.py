"""The transcription model loaded ahead of the step, in a background thread.

`avocado process` starts a preload before its first step, so the model is imported and loaded
while the audio is extracted; the transcribe service starts one before it imports its worker
runtime and connects to Kafka. The load fills the engine's process cache (`engine.load_model`),
so the step's own `load_model` returns the model at once, or waits under the cache's lock for
the load still in flight: it never loads twice. A failed load is kept for the step, whose first
`load_model` raises the same StepError (a clear error for the transcription step, not a second
slow failure); a Retry of the step loads afresh.

This module imports nothing heavy: faster-whisper and the engine are imported in the thread.
The thread is a daemon, so Ctrl-C or an early exit never waits for a load that cannot be
interrupted; `join` waits for it where a caller wants no thread left behind.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

log = logging.getLogger(__name__)


class ModelPreload:
    """One model's load in a daemon thread, started by `start_preload`."""

    def __init__(self, model: str) -> None:
        self.model = model
        self.error: Exception | None = None  # why the load failed (the step raises it too)
        self.seconds: float | None = None  # import and load time, once done
        self._thread = threading.Thread(
            target=self._run, name=f"talkavocado-preload-{model}", daemon=True
        )

    def _run(self) -> None:
        began = time.perf_counter()
        try:
            from .core import resolve_model
            from .engine import load_model

            load_model(resolve_model(self.model), keep_failure=True)
        except Exception as exc:  # the step reports it: an unknown model, a broken install
            self.error = exc
            log.info("preloading the transcription model %r failed: %s", self.model, exc)
        else:
            log.info(
                "transcription model %r preloaded in %.2f s",
                self.model,
                time.perf_counter() - began,
            )
        finally:
            self.seconds = time.perf_counter() - began

    def start(self) -> ModelPreload:
        self._thread.start()
        return self

    def done(self) -> bool:
        return self.seconds is not None

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the load to end (True) or `timeout` seconds to pass (False)."""
        self._thread.join(timeout)
        return not self._thread.is_alive()


def start_preload(model: str | None) -> ModelPreload | None:
    """Start loading `model` (a name, path or repo id as in the job options; None or empty:
    nothing to load) in a background thread."""
    if not model or not model.strip():
        return None
    return ModelPreload(model.strip()).start()


@contextmanager
def preloaded(model: str | None) -> Iterator[ModelPreload | None]:
    """`start_preload(model)` for the block. Leaving it normally or by an error waits for the
    load to end, so no thread outlives the block; Ctrl-C (KeyboardInterrupt, SystemExit) does
    not wait: the daemon thread ends with the process."""
    preload = start_preload(model)
    try:
        yield preload
    except Exception:
        if preload is not None:
            preload.join()
        raise
    if preload is not None:
        preload.join()

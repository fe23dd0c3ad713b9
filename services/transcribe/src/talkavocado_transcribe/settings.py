"""The transcribe service's settings (environment variables)."""

from __future__ import annotations

from pydantic import Field

from talkavocado_common.worker import StepServiceSettings

from .core.model import DEFAULT_MODEL


class TranscribeSettings(StepServiceSettings):
    """Runs transcription. The model of each job comes from its options; the warm-up model is
    loaded before the service reports ready, so the first job does not pay for the load."""

    warmup_model: str | None = Field(
        DEFAULT_MODEL,
        alias="TRANSCRIBE_WARMUP_MODEL",
        description="Model loaded at start, before /readyz says ready (empty: none).",
    )

"""How branding-layer's full encode is spread over the render workers (segmented.py). Its own
module, free of the worker runtime: `avocado process` reads these settings too, and must not
load Kafka to do so."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class SegmentedRenderSettings(BaseSettings):
    """When and how branding-layer's full encode is split into segments that any render worker
    encodes (render-segment sub-steps), joined by stream copy. Read by the handler itself, so
    `avocado process` follows them too (where one process encodes every segment)."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    enabled: bool = Field(
        True,
        alias="RENDER_SEGMENTED",
        description="Split a long full encode into segments (off: always one piece).",
    )
    min_timeline_seconds: float = Field(
        120.0,
        gt=0,
        alias="RENDER_SEGMENT_MIN_TIMELINE_SECONDS",
        description="Only edits at least this long (the edited timeline, without intro/outro) "
        "are split.",
    )
    # 20 s, not longer: N workers share a short edit evenly only if it has many more segments
    # than N (bench/render_fleet.py --core-per-worker, a 141 s edit on 2 workers: 1.72x with
    # 20 s segments, 1.37x with 45 s), and on one worker 20 s cost no more than 45 s (0.96x
    # vs 0.95x of the one-piece render).
    segment_seconds: float = Field(
        20.0,
        gt=0,
        alias="RENDER_SEGMENT_SECONDS",
        description="About this much output per segment (cuts land on whole frames, never in "
        "a crossfade).",
    )
    lease_seconds: float = Field(
        30.0,
        gt=0,
        alias="RENDER_SEGMENT_LEASE_SECONDS",
        description="A worker's claim on a segment lasts this long unless renewed (every "
        "third of it); a claim left by a dead worker is taken over once it has expired.",
    )
    poll_seconds: float = Field(
        0.5,
        gt=0,
        alias="RENDER_SEGMENT_POLL_SECONDS",
        description="How often the render step looks at segments other workers are encoding.",
    )

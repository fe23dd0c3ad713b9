"""The render service's settings (environment variables): the shared step-service settings, and
how a long render is spread over the render workers (segment_settings.py)."""

from __future__ import annotations

from pydantic import Field

from talkavocado_common.worker import StepServiceSettings

from .segment_settings import SegmentedRenderSettings


class RenderSettings(StepServiceSettings):
    """Runs smart-cut-planner, video-cuts, video-transitions, subtitles-post-edit, timeline-export
    and branding-layer (and its render-segment sub-steps). SegmentedRenderSettings are read by the handlers
    themselves (they run in `avocado process` too); they are one group here, so the service's
    one settings class lists every variable it reads."""

    segmented: SegmentedRenderSettings = Field(default_factory=SegmentedRenderSettings)

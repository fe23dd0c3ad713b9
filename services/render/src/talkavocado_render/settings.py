"""The render service's settings (environment variables): a step service with no settings of its own
beyond the shared ones."""

from __future__ import annotations

from talkavocado_common.worker import StepServiceSettings


class RenderSettings(StepServiceSettings):
    """Runs smart-cut-planner, video-cuts, video-transitions, subtitles-post-edit and branding-layer."""

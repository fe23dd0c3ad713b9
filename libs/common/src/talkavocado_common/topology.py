"""The pipeline's steps: which service runs each and where its handler lives, declared once.

Everything that needs the map reads it from here: the pipeline's validation of the ASL document
(a Task's `Resource` is `service:step`), each service's worker (the handlers it registers), the
in-process runner of `avocado process` (all handlers), the benchmarks and the tests. Moving a
step to another service, or its code to another package, is a one-line change below.

Handlers are named by import path and loaded on demand, so a service imports only its own
steps' code (the render service never loads faster-whisper).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass

from .models import JobStatus
from .steps import StepHandler

ORCHESTRATOR = "orchestrator"


@dataclass(frozen=True)
class Step:
    name: str
    service: str
    handler: str  # "package.module:function"


STEPS: tuple[Step, ...] = (
    Step("audio-extraction", "audio", "talkavocado_audio.handler:audio_extraction"),
    Step("transcription", "transcribe", "talkavocado_transcribe.handler:transcription"),
    Step("smart-cut-planner", "render", "talkavocado_common.planning.step:smart_cut_planner"),
    Step("video-cuts", "render", "talkavocado_render.edit_steps:video_cuts"),
    Step("video-transitions", "render", "talkavocado_render.edit_steps:video_transitions"),
    Step("subtitles-post-edit", "render", "talkavocado_render.edit_steps:subtitles_post_edit"),
    Step("timeline-export", "render", "talkavocado_render.export_step:timeline_export"),
    Step("branding-layer", "render", "talkavocado_render.branding:branding_layer"),
)

# Sub-steps: work a step hands out to any worker of its service (published with
# StepEnv.substeps, keyed apart from the job so they spread over the partitions). They are not
# Tasks of the pipeline: the orchestrator ignores their results (their step run ids are not the
# one it waits for) and the manifest does not record them.
SUBSTEPS: tuple[Step, ...] = (
    Step("render-segment", "render", "talkavocado_render.segment_step:render_segment"),
)

# The orchestrator's own steps (`orchestrator:mark-*`): run inline, they set the job's status.
BUILTIN_STATUS: Mapping[str, JobStatus] = {
    "mark-processing": JobStatus.PROCESSING,
    "mark-complete": JobStatus.COMPLETED,
    "mark-failed": JobStatus.FAILED,
}


def step_services() -> tuple[str, ...]:
    """The step services, in pipeline order (the orchestrator is not one)."""
    return tuple(dict.fromkeys(step.service for step in STEPS))


def steps_of(service: str) -> tuple[str, ...]:
    if service == ORCHESTRATOR:
        return tuple(BUILTIN_STATUS)
    return tuple(step.name for step in STEPS if step.service == service)


def service_of(step: str) -> str:
    for declared in STEPS:
        if declared.name == step:
            return declared.service
    raise KeyError(f"no service runs the step {step!r}")


def resources() -> dict[str, tuple[str, ...]]:
    """service -> the steps it runs, the orchestrator's included: what a Task may name."""
    return {service: steps_of(service) for service in (*step_services(), ORCHESTRATOR)}


def is_substep(step: str) -> bool:
    return any(declared.name == step for declared in SUBSTEPS)


def substep_service(step: str) -> str:
    for declared in SUBSTEPS:
        if declared.name == step:
            return declared.service
    raise KeyError(f"no service runs the sub-step {step!r}")


def load_handlers(
    service: str | None = None, *, include_substeps: bool = False
) -> dict[str, StepHandler]:
    """The handlers of one service's steps (all step services' when None), imported now; with
    `include_substeps`, its sub-steps' too (what the service's worker runs)."""
    handlers: dict[str, StepHandler] = {}
    for step in (*STEPS, *(SUBSTEPS if include_substeps else ())):
        if service is None or step.service == service:
            module, _, attribute = step.handler.partition(":")
            handlers[step.name] = getattr(importlib.import_module(module), attribute)
    if service is not None and not handlers:
        raise KeyError(f"no steps are declared for the service {service!r}")
    return handlers

"""validate_machine: the document's Tasks must name resources the platform runs."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from talkavocado_common.asl import AslError, load
from talkavocado_common.pipeline import PLATFORM_RESOURCES, validate_machine

from .helpers import DOC, PIPELINE, machine, task


def with_state(name: str, **changes: Any) -> dict[str, Any]:
    doc = copy.deepcopy(DOC)
    doc["States"][name].update(changes)
    return doc


def test_the_default_pipeline_is_valid() -> None:
    validate_machine(PIPELINE)


def test_platform_resources_cover_the_default_pipeline_exactly() -> None:
    used = {s["Resource"] for s in DOC["States"].values() if s["Type"] == "Task"}
    offered = {
        f"{service}:{step}" for service, steps in PLATFORM_RESOURCES.items() for step in steps
    }
    assert used == offered


@pytest.mark.parametrize(
    ("state", "resource", "message"),
    [
        ("transcription", "lambda:transcription", r"state 'transcription'.*service 'lambda'"),
        ("video-cuts", "render:video-cut", r"state 'video-cuts'.*'render' has no step 'video-cut'"),
        ("mark-complete", "orchestrator:mark-done", r"state 'mark-complete'.*no step 'mark-done'"),
        (
            "audio-extraction",
            "transcribe:audio-extraction",
            r"state 'audio-extraction'.*'transcribe' has no step",
        ),
    ],
)
def test_unknown_resources_are_refused_naming_the_state(
    state: str, resource: str, message: str
) -> None:
    with pytest.raises(AslError, match=message):
        validate_machine(load(with_state(state, Resource=resource)))


def test_resources_can_be_given_explicitly() -> None:
    m = machine({"work": task("render:preview")})
    with pytest.raises(AslError, match="preview"):
        validate_machine(m)
    validate_machine(m, {"render": ["preview"]})


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"TimeoutSeconds": 0}, "TimeoutSeconds must be positive"),
        ({"HeartbeatSeconds": 0}, "HeartbeatSeconds must be positive"),
        ({"HeartbeatSeconds": 1800}, "HeartbeatSeconds must be smaller than TimeoutSeconds"),
    ],
)
def test_timeouts_a_step_request_cannot_carry_are_refused(
    changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(AslError, match=rf"state 'audio-extraction': {message}"):
        validate_machine(load(with_state("audio-extraction", **changes)))


def test_a_zero_job_timeout_is_refused() -> None:
    doc = copy.deepcopy(DOC)
    doc["TimeoutSeconds"] = 0
    with pytest.raises(AslError, match="TimeoutSeconds must be positive"):
        validate_machine(load(doc))

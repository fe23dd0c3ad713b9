"""The ASL subset: loading, refusing what is outside it, choices, retry delays, paths."""

from __future__ import annotations

import copy
import json
import random
from typing import Any

import pytest

from talkavocado_common.asl import (
    AslError,
    ChoiceState,
    Retrier,
    TaskState,
    assign,
    default_pipeline_path,
    default_revision_path,
    load,
    lookup,
    planned_path,
)

PIPELINE: dict[str, Any] = json.loads(default_pipeline_path().read_text())


def with_state(name: str, state: dict[str, Any]) -> dict[str, Any]:
    doc = copy.deepcopy(PIPELINE)
    doc["States"][name] = state
    return doc


def test_the_pipeline_document_loads() -> None:
    machine = load(PIPELINE)
    assert machine.start_at == "mark-processing"
    task = machine["transcription"]
    assert isinstance(task, TaskState)
    assert (task.service, task.step) == ("transcribe", "transcription")
    assert task.retrier_for("TRANSIENT_DEPENDENCY") is not None
    assert task.retrier_for("INPUT_INVALID") is None
    catcher = task.catcher_for("INPUT_INVALID")
    assert catcher is not None
    assert catcher.next == "mark-failed"


def test_the_revision_document_is_the_pipeline_from_video_cuts_on() -> None:
    """A review revision re-renders: its states are the pipeline's own from video-cuts on (the
    same Retry, Catch and timeouts), entered after mark-processing, so the two cannot drift."""
    revision = json.loads(default_revision_path().read_text())
    load(revision)
    states = revision["States"]
    assert revision["StartAt"] == "mark-processing"
    assert states["mark-processing"]["Next"] == "video-cuts"
    order = list(PIPELINE["States"])
    tail = order[order.index("video-cuts") :]
    assert sorted(states) == sorted(["mark-processing", *tail])
    for name in tail:
        assert states[name] == PIPELINE["States"][name], name
    expected = dict(PIPELINE["States"]["mark-processing"], Next="video-cuts")
    assert states["mark-processing"] == expected
    assert revision["TimeoutSeconds"] == PIPELINE["TimeoutSeconds"]


def test_pipeline_order_follows_the_transitions_choice() -> None:
    machine = load(PIPELINE)
    plain = [
        s.name for s in planned_path(machine, {"options": {"transitions": {"enabled": False}}})
    ]
    assert plain == [
        "mark-processing",
        "audio-extraction",
        "transcription",
        "smart-cut-planner",
        "video-cuts",
        "subtitles-post-edit",
        "timeline-export",
        "branding-layer",
        "mark-complete",
    ]
    faded = [s.name for s in planned_path(machine, {"options": {"transitions": {"enabled": True}}})]
    assert faded[5] == "video-transitions"


@pytest.mark.parametrize(
    ("state", "message"),
    [
        ({"Type": "Map", "Next": "mark-complete"}, r"'x': Type 'Map' is not supported"),
        ({"Type": "Parallel", "End": True}, r"'x': Type 'Parallel'"),
        (
            {"Type": "Task", "Resource": "render:a", "Next": "mark-complete", "Parameters": {}},
            r"'x': unsupported field\(s\) Parameters",
        ),
        ({"Type": "Task", "Resource": "nocolon", "End": True}, r"'x': Resource must be"),
        ({"Type": "Task", "Resource": "a:b"}, r"'x': needs exactly one of Next or End"),
        (
            {"Type": "Task", "Resource": "a:b", "Next": "nowhere"},
            r"'x': transition to unknown state 'nowhere'",
        ),
        (
            {
                "Type": "Choice",
                "Choices": [{"Variable": "$.a", "NumericEquals": 1, "Next": "mark-complete"}],
            },
            r"'x': a choice rule needs Variable",
        ),
        (
            {
                "Type": "Task",
                "Resource": "a:b",
                "End": True,
                "Retry": [{"ErrorEquals": ["X"], "JitterStrategy": "HALF"}],
            },
            r"JitterStrategy",
        ),
        (
            {"Type": "Task", "Resource": "a:b", "End": True, "ResultPath": "$.items[0]"},
            r"unsupported path",
        ),
    ],
)
def test_outside_the_subset_is_refused_naming_the_state(
    state: dict[str, Any], message: str
) -> None:
    with pytest.raises(AslError, match=message):
        load(with_state("x", state))


def test_states_all_must_stand_alone() -> None:
    state = {
        "Type": "Task",
        "Resource": "a:b",
        "End": True,
        "Catch": [{"ErrorEquals": ["States.ALL", "X"], "Next": "mark-failed"}],
    }
    with pytest.raises(AslError, match=r"States\.ALL must appear alone"):
        load(with_state("x", state))


def test_choice_operators() -> None:
    doc = {
        "StartAt": "c",
        "States": {
            "c": {
                "Type": "Choice",
                "Choices": [
                    {
                        "And": [
                            {"Variable": "$.a", "BooleanEquals": True},
                            {"Not": {"Variable": "$.b", "IsPresent": True}},
                        ],
                        "Next": "one",
                    },
                    {
                        "Or": [
                            {"Variable": "$.s", "StringEquals": "x"},
                            {"Variable": "$.t", "IsPresent": True},
                        ],
                        "Next": "two",
                    },
                ],
                "Default": "three",
            },
            "one": {"Type": "Succeed"},
            "two": {"Type": "Succeed"},
            "three": {"Type": "Succeed"},
        },
    }
    choice = load(doc)["c"]
    assert isinstance(choice, ChoiceState)
    assert choice.choose({"a": True}) == "one"
    assert choice.choose({"a": True, "b": 1}) == "three"
    assert choice.choose({"a": "true"}) == "three"  # BooleanEquals is typed
    assert choice.choose({"s": "x"}) == "two"
    assert choice.choose({"t": None}) == "two"
    assert choice.choose({}) == "three"


def test_retry_delays_back_off_and_cap() -> None:
    retrier = Retrier(
        error_equals=("X",), interval_seconds=2, backoff_rate=2, max_attempts=5, max_delay_seconds=5
    )
    assert [retrier.delay(n) for n in (1, 2, 3, 4)] == [2, 4, 5, 5]
    jittered = Retrier(error_equals=("X",), interval_seconds=2, backoff_rate=2, jitter=True)
    delays = [jittered.delay(3, random.Random(seed)) for seed in range(50)]
    assert all(0 <= d <= 8 for d in delays)
    assert len(set(delays)) > 10


def test_paths() -> None:
    data = {"a": {"b": 1}}
    assert lookup(data, "$.a.b") == (True, 1)
    assert lookup(data, "$.a.c") == (False, None)
    assert assign(data, "$.a.c", 2) == {"a": {"b": 1, "c": 2}}
    assert data == {"a": {"b": 1}}, "assign must not mutate its input"
    assert assign(data, None, 5) is data
    assert assign(data, "$", 5) == 5

"""The step → service → handler map is declared once and agrees with the pipeline document."""

from __future__ import annotations

import inspect

import pytest

from talkavocado_common.asl import TaskState, default_pipeline_path, load_file
from talkavocado_common.pipeline import PLATFORM_RESOURCES, validate_machine
from talkavocado_common.topology import (
    BUILTIN_STATUS,
    ORCHESTRATOR,
    STEPS,
    load_handlers,
    resources,
    service_of,
    step_services,
    steps_of,
)


def test_every_step_is_declared_once_with_a_loadable_coroutine_handler() -> None:
    names = [step.name for step in STEPS]
    assert len(names) == len(set(names))
    handlers = load_handlers()
    assert list(handlers) == names
    assert all(inspect.iscoroutinefunction(handler) for handler in handlers.values())


def test_a_service_loads_only_its_own_steps() -> None:
    assert step_services() == ("audio", "transcribe", "render")
    for service in step_services():
        assert set(load_handlers(service)) == set(steps_of(service))
    assert service_of("smart-cut-planner") == "render"
    with pytest.raises(KeyError, match="no service runs"):
        service_of("no-such-step")
    with pytest.raises(KeyError, match="no steps are declared"):
        load_handlers("no-such-service")


def test_the_pipeline_document_names_exactly_the_declared_resources() -> None:
    machine = load_file(default_pipeline_path())
    validate_machine(machine)  # every Task names a declared service:step
    tasks = {(s.service, s.step) for s in machine.states.values() if isinstance(s, TaskState)}
    declared = {(step.service, step.name) for step in STEPS}
    assert declared <= tasks  # no declared step is left out of the pipeline
    assert resources() == PLATFORM_RESOURCES
    assert resources()[ORCHESTRATOR] == tuple(BUILTIN_STATUS)

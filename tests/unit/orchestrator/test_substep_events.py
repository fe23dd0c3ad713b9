"""Sub-steps (topology.SUBSTEPS, e.g. render-segment) beat and report on steps.results with run
ids of their own, `<parent run id>/<name>`: the orchestrator ignores them, and the parent's own
heartbeat clock and result are untouched."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from talkavocado_common.events import StepRequested
from talkavocado_common.models import ErrorCode
from talkavocado_common.topology import SUBSTEPS, is_substep, load_handlers, steps_of
from talkavocado_common.worker.core import substep_key, substep_request

from .helpers import Driver, requests


def at_branding_layer() -> Driver:
    d = Driver()
    d.submit()
    while d.pending.state != "branding-layer":
        d.succeed()
    return d


def test_sub_step_heartbeats_and_results_are_ignored() -> None:
    d = at_branding_layer()
    parent = d.pending.step_run_id
    assert parent == "job-1/branding-layer/1"
    d.heartbeat(0.1, token="parent-run")
    before = d.job.model_copy(deep=True)
    sub = f"{parent}/segment-0002"
    d.advance(1)
    # Ignored: no command, the very same row (Driver.send checks both).
    assert d.heartbeat(0.9, run=sub, token="other-worker") == []
    assert d.succeed({"encoded": True}, run=sub) == []
    assert d.fail(ErrorCode.INTERNAL, "ffmpeg died", run=sub) == []
    assert d.job == before
    assert d.pending.runs == ["parent-run"]
    assert d.pending.lost == 0
    # The parent's own result still moves the job on.
    commands = d.succeed({"renderPath": "segmented"})
    assert commands
    assert not requests(commands)
    assert d.job.ended


def test_a_sub_step_request_is_the_parents_with_its_own_run_id_and_key() -> None:
    parent = StepRequested(
        job_id="job-1",
        tenant_id="tenant-a",
        env="test",
        step_run_id="job-1/branding-layer/2",
        state="branding-layer",
        service="render",
        step="branding-layer",
        attempt=2,
        input={"options": {"render": {"crf": 23}}},
        deadline=datetime.now(UTC) + timedelta(minutes=5),
        heartbeat_seconds=60,
    )
    sub = substep_request(parent, "render-segment", "segment-0003", {"segment": {"index": 3}})
    assert sub.step == "render-segment"
    assert sub.state == "branding-layer"
    assert sub.step_run_id == "job-1/branding-layer/2/segment-0003"
    assert (sub.attempt, sub.deadline, sub.heartbeat_seconds) == (2, parent.deadline, 60)
    assert sub.input == {"segment": {"index": 3}}
    keys = {substep_key(parent, f"segment-{i:04d}") for i in range(8)}
    assert len(keys) == 8
    assert b"job-1" not in keys


def test_sub_steps_are_declared_apart_from_the_pipeline_steps() -> None:
    assert [s.name for s in SUBSTEPS] == ["render-segment"]
    assert is_substep("render-segment")
    assert not is_substep("branding-layer")
    assert "render-segment" not in steps_of("render")
    assert "render-segment" not in load_handlers("render")
    assert "render-segment" in load_handlers("render", include_substeps=True)

"""Review the cut through the API: GET/PUT /jobs/{id}/plan, POST /jobs/{id}/render and the
revisions GET /jobs/{id} lists; GET /session; the review app's page and files."""

from __future__ import annotations

from typing import Any

import pytest

from talkavocado_common.manifest_changes import RecordCutPlan, RecordRenders
from talkavocado_common.models import (
    CutPlan,
    JobStatus,
    PlannerOptions,
    RenderArtifact,
)
from talkavocado_common.planning.planner import plan_cuts
from tests.unit.render.plans import analysis, transcript

from ..support import TENANT_A, Api

PARAMS = {"tenantId": TENANT_A}
WORDS = [(0.5, 1.0, " Hello"), (1.3, 1.6, " um"), (1.9, 2.4, " world."), (5.0, 5.5, " Again")]
SILENCES = [(0.0, 0.5), (1.0, 1.3), (1.6, 1.9), (2.4, 5.0), (5.5, 6.0)]


async def planned_job(api: Api, status: JobStatus = JobStatus.COMPLETED) -> str:
    """A job whose pipeline made its transcript, analysis and cut plan (and a render)."""
    job = await api.submitted_job()
    keys = api.keys(job["jobId"])
    said, heard = transcript(WORDS), analysis(6.0, SILENCES)
    await api.storage.write_bytes(keys.transcript_json, said.to_json_bytes())
    await api.storage.write_bytes(keys.audio_analysis, heard.to_json_bytes())
    plan = plan_cuts(said, heard, PlannerOptions())
    await api.storage.write_bytes(keys.cut_plan, plan.to_json_bytes())
    await api.manifests.update(keys, RecordCutPlan(keys.cut_plan))
    render = RenderArtifact(
        key=keys.final_render, kind="final", duration_sec=3.5, width=2, height=2, bytes=9
    )
    await api.manifests.update(keys, RecordRenders((render,)))
    await api.set_status(job["jobId"], status)
    return str(job["jobId"])


async def get_plan(api: Api, job_id: str) -> dict[str, Any]:
    response = await api.client.get(f"/jobs/{job_id}/plan", params=PARAMS)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def put_plan(api: Api, job_id: str, body: dict[str, Any]) -> Any:
    return await api.client.put(f"/jobs/{job_id}/plan", params=PARAMS, json=body)


def filler_region(plan: dict[str, Any]) -> dict[str, Any]:
    return next(r for r in plan["regions"] if r["reason"] == "filler")


async def test_the_plan_as_the_review_shows_it(api: Api) -> None:
    job_id = await planned_job(api)
    plan = await get_plan(api, job_id)
    assert (plan["revision"], plan["nextRevision"], plan["edits"]) == (1, 2, [])
    assert plan["durationSec"] == 6.0
    assert plan["pauseTargetMs"] == 400
    assert [(w["word"].strip(), w["action"]) for w in plan["words"]][:2] == [
        ("Hello", "keep"),
        ("um", "cut"),
    ]
    assert set(plan["stats"]["cutsByReason"]) == {"filler", "pause"}
    removed = plan["stats"]["removedSecByReason"]
    assert sum(removed.values()) == pytest.approx(plan["stats"]["removedDurationSec"], abs=1e-3)


async def test_edits_replace_the_stored_ones_and_a_read_shows_them(api: Api) -> None:
    job_id = await planned_job(api)
    filler = filler_region(await get_plan(api, job_id))
    keep = {"start": filler["start"], "end": filler["end"], "action": "keep"}
    response = await put_plan(api, job_id, {"edits": [keep]})
    assert response.status_code == 200, response.text
    edited = response.json()
    assert edited["revision"] is None  # edited since the last render
    assert ("um", "keep") in [(w["word"].strip(), w["action"]) for w in edited["words"]]
    assert "filler" not in edited["stats"]["cutsByReason"]
    assert await get_plan(api, job_id) == edited
    # The whole list each time: an empty one is the automatic plan again.
    again = (await put_plan(api, job_id, {"edits": []})).json()
    assert ("um", "cut") in [(w["word"].strip(), w["action"]) for w in again["words"]]


@pytest.mark.parametrize(
    ("edit", "detail"),
    [
        ({"start": 2, "end": 1, "action": "cut"}, "must be before end"),
        ({"start": 5, "end": 60, "action": "cut"}, "after the recording's end"),
        ({"start": 1, "end": 2, "action": "mute"}, "action"),
        ({"start": -1, "end": 2, "action": "cut"}, "start"),
    ],
)
async def test_a_bad_edit_is_400_with_a_sentence(
    api: Api, edit: dict[str, Any], detail: str
) -> None:
    job_id = await planned_job(api)
    response = await put_plan(api, job_id, {"edits": [edit]})
    assert response.status_code == 400, response.text
    assert detail in response.text
    assert not await api.storage.exists(api.keys(job_id).plan_edits)


async def test_another_pause_target_plans_again(api: Api) -> None:
    job_id = await planned_job(api)
    before = await get_plan(api, job_id)
    response = await put_plan(api, job_id, {"edits": [], "planner": {"targetPauseMs": 1000}})
    assert response.status_code == 200, response.text
    after = response.json()
    assert after["pauseTargetMs"] == 1000
    pause = [r for r in before["regions"] if r["reason"] == "pause"]
    longer = [r for r in after["regions"] if r["reason"] == "pause"]
    cut = sum(r["end"] - r["start"] for r in pause)
    assert sum(r["end"] - r["start"] for r in longer) == pytest.approx(cut - 0.6, abs=0.01)


async def test_a_render_makes_a_revision_of_the_adjusted_plan(api: Api) -> None:
    job_id = await planned_job(api)
    filler = filler_region(await get_plan(api, job_id))
    edited = (
        await put_plan(
            api,
            job_id,
            {"edits": [{"start": filler["start"], "end": filler["end"], "action": "keep"}]},
        )
    ).json()
    response = await api.client.post(f"/jobs/{job_id}/render", params=PARAMS)
    assert response.status_code == 202, response.text
    assert response.json() == {"jobId": job_id, "revision": 2, "status": "completed"}
    keys = api.keys(job_id).for_revision(2)
    written = CutPlan.model_validate_json((await api.storage.read_bytes(keys.cut_plan))[0])
    assert written.stats.kept_duration_sec == edited["stats"]["keptDurationSec"]
    [event] = api.publisher.of_type("job.render-requested")
    assert (event.data["revision"], event.data["manifestKey"]) == (2, keys.manifest)
    manifest = await api.manifests.get(keys)
    assert [(r.revision, r.edits, r.cut_plan) for r in manifest.revisions] == [
        (2, 1, keys.cut_plan)
    ]
    assert (await get_plan(api, job_id))["revision"] == 2
    # The job lists the new revision first, rendering once the orchestrator has started it.
    await api.set_status(job_id, JobStatus.PROCESSING)
    job = (await api.client.get(f"/jobs/{job_id}", params=PARAMS)).json()
    assert [(r["revision"], r["status"]) for r in job["revisions"]] == [
        (2, "rendering"),
        (1, "completed"),
    ]
    assert job["revisions"][1]["render"] == api.keys(job_id).final_render
    assert job["input"]["originalFilename"]


async def test_renders_are_numbered_on_and_refused_while_the_job_runs(api: Api) -> None:
    job_id = await planned_job(api)
    first = await api.client.post(f"/jobs/{job_id}/render", params=PARAMS)
    assert first.json()["revision"] == 2
    busy = await api.client.post(f"/jobs/{job_id}/render", params=PARAMS)
    assert busy.json()["revision"] == 3  # the job is still completed: nothing refuses it yet
    for status in (JobStatus.PROCESSING, JobStatus.PENDING, JobStatus.CANCELLED):
        await api.set_status(job_id, status)
        refused = await api.client.post(f"/jobs/{job_id}/render", params=PARAMS)
        assert refused.status_code == 409, refused.text
        assert refused.json()["status"] == status.value
    assert len(api.publisher.of_type("job.render-requested")) == 2


async def test_no_plan_yet_is_409(api: Api) -> None:
    job = await api.submitted_job()
    response = await api.client.get(f"/jobs/{job['jobId']}/plan", params=PARAMS)
    assert response.status_code == 409
    assert "no cut plan yet" in response.json()["detail"]


async def test_the_session_names_the_keys_tenant(api: Api) -> None:
    response = await api.client.get("/session")
    assert response.status_code == 200
    assert response.json()["tenantId"] == TENANT_A
    async with api.anonymous() as client:
        assert (await client.get("/session")).status_code == 401


async def test_the_review_app_is_served_by_the_api_itself(api: Api) -> None:
    async with api.anonymous() as client:
        page = await client.get("/")
        script = await client.get("/ui/app.js")
        missing = await client.get("/ui/nope.js")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert '<script type="module" src="/ui/app.js">' in page.text
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "connect-src 'self'" in csp
    assert script.status_code == 200
    assert "javascript" in script.headers["content-type"]
    assert script.headers["content-security-policy"] == csp
    assert missing.status_code == 404
    # Nothing in the app loads from another origin.
    for name in ("index.html", "app.js", "job.js", "api.js", "plan.js", "dom.js", "app.css"):
        async with api.anonymous() as client:
            text = (await client.get("/" if name == "index.html" else f"/ui/{name}")).text
        assert "http://" not in text
        assert "https://" not in text, name

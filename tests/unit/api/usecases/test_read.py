"""Read jobs: GET /jobs/{id} (the original shape), GET /jobs (newest first, paginated, by
status), and the use case itself."""

from __future__ import annotations

import pytest

from talkavocado_api.usecases.errors import InvalidInput, JobNotFound
from talkavocado_api.usecases.read import decode_cursor, encode_cursor
from talkavocado_common.models import (
    AudioArtifacts,
    ExportArtifact,
    JobStatus,
    Manifest,
    PlanArtifacts,
    RenderArtifact,
    SubtitleArtifact,
    TranscriptArtifacts,
)

from ..support import CTX, ENV, TENANT_A, Api


async def test_get_job_shows_status_and_artifact_keys(api: Api) -> None:
    job = await api.create_job()
    keys = api.keys(job["jobId"])
    view = (await api.client.get(f"/jobs/{job['jobId']}", params={"tenantId": TENANT_A})).json()
    assert view["status"] == "pending"
    assert view["artifacts"] == {
        "audio": None,
        "transcript": None,
        "plan": None,
        "renders": [],
        "subtitles": [],
        "exports": [],
    }

    def complete(m: Manifest) -> Manifest:
        return m.model_copy(
            update={
                "status": JobStatus.COMPLETED,
                "audio": AudioArtifacts(
                    mp3=keys.audio_mp3, wav=keys.audio_wav, analysis=keys.audio_analysis
                ),
                "transcript": TranscriptArtifacts(
                    json_key=keys.transcript_json,
                    srt=keys.source_captions("srt"),
                    vtt=keys.source_captions("vtt"),
                ),
                "plan": PlanArtifacts(cut_plan=keys.cut_plan, timeline=keys.timeline),
                "renders": [
                    RenderArtifact(
                        key=keys.final_render,
                        kind="final",
                        duration_sec=10,
                        width=320,
                        height=240,
                        bytes=100,
                    )
                ],
                "subtitles": [
                    SubtitleArtifact(key=keys.final_subtitles("srt"), format="srt", kind="final")
                ],
                "exports": [ExportArtifact(key=keys.timeline_export("edl"), format="edl")],
            }
        )

    updated = await api.manifests.update(keys, complete)
    response = await api.client.get(f"/jobs/{job['jobId']}", params={"tenantId": TENANT_A})
    assert response.status_code == 200
    view = response.json()
    assert view["jobId"] == job["jobId"]
    assert view["tenantId"] == TENANT_A
    assert view["status"] == "completed"
    assert view["manifestKey"] == f"{ENV}/{TENANT_A}/{job['jobId']}/manifest.json"
    assert view["artifacts"] == {
        "audio": keys.audio_mp3,
        "transcript": keys.transcript_json,
        "plan": keys.cut_plan,
        "renders": [keys.final_render],
        "subtitles": [keys.final_subtitles("srt")],
        "exports": [keys.timeline_export("edl")],
    }
    assert view["updatedAt"].startswith(updated.updated_at.isoformat()[:19])


async def test_unknown_job_and_bad_tenant(api: Api) -> None:
    unknown = await api.client.get("/jobs/0190000000000-00000000", params={"tenantId": TENANT_A})
    assert unknown.status_code == 404
    assert unknown.json()["detail"] == "job '0190000000000-00000000' not found"
    weird = await api.client.get("/jobs/..%2F..", params={"tenantId": TENANT_A})
    assert weird.status_code == 404
    bad = await api.client.get("/jobs/whatever", params={"tenantId": "Not_Valid!"})
    assert bad.status_code == 400
    assert bad.json()["detail"].startswith("tenantId: invalid tenant id")
    missing = await api.client.get("/jobs/whatever")
    assert missing.status_code == 400
    assert missing.json()["detail"] == "tenantId: Field required"


async def test_list_is_newest_first_and_paginated(api: Api) -> None:
    ids = [(await api.create_job())["jobId"] for _ in range(5)]
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params = {"tenantId": TENANT_A, "limit": 2, **({"cursor": cursor} if cursor else {})}
        response = await api.client.get("/jobs", params=params)
        assert response.status_code == 200
        page = response.json()
        seen += [j["jobId"] for j in page["jobs"]]
        pages += 1
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert seen == list(reversed(ids))
    assert pages == 3
    first = (await api.client.get("/jobs", params={"tenantId": TENANT_A, "limit": 1})).json()
    assert first["jobs"][0]["originalFilename"] == "talk.mp4"
    assert first["jobs"][0]["status"] == "pending"


async def test_list_filters_by_status(api: Api) -> None:
    ids = [(await api.create_job())["jobId"] for _ in range(4)]
    for job_id in ids[::2]:
        await api.client.post(f"/jobs/{job_id}/cancel", params={"tenantId": TENANT_A})
    response = await api.client.get(
        "/jobs", params={"tenantId": TENANT_A, "status": "cancelled", "limit": 1}
    )
    page = response.json()
    assert [j["jobId"] for j in page["jobs"]] == [ids[2]]
    rest = await api.client.get(
        "/jobs", params={"tenantId": TENANT_A, "status": "cancelled", "cursor": page["nextCursor"]}
    )
    assert [j["jobId"] for j in rest.json()["jobs"]] == [ids[0]]
    assert rest.json()["nextCursor"] is None
    pending = await api.client.get("/jobs", params={"tenantId": TENANT_A, "status": "pending"})
    assert [j["jobId"] for j in pending.json()["jobs"]] == [ids[3], ids[1]]


async def test_empty_list_and_bad_parameters(api: Api) -> None:
    empty = await api.client.get("/jobs", params={"tenantId": TENANT_A})
    assert empty.json() == {"jobs": [], "nextCursor": None}
    for params, field in [
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"status": "exploded"}, "status"),
        ({"cursor": "!!not-a-job-id!!"}, "cursor"),
        ({"cursor": "../etc"}, "cursor"),
    ]:
        response = await api.client.get("/jobs", params={"tenantId": TENANT_A, **params})
        assert response.status_code == 400, params
        assert response.json()["detail"].startswith(field)


async def test_idempotency_records_are_not_jobs(api: Api) -> None:
    await api.client.post(
        "/jobs",
        json={
            "tenantId": TENANT_A,
            "input": {"originalFilename": "a.mp4", "bytes": 10, "mimeType": "video/mp4"},
        },
        headers={"Idempotency-Key": "k1"},
    )
    listed = (await api.client.get("/jobs", params={"tenantId": TENANT_A})).json()
    assert len(listed["jobs"]) == 1


# --- the use case, without HTTP ---------------------------------------------------------------


def test_cursor_round_trip_and_garbage() -> None:
    job_id = "01a22273e19e-15f3d52ed4c6c3b7"
    assert decode_cursor(encode_cursor(job_id)) == job_id
    for bad in ("%%%", encode_cursor("../x"), encode_cursor("")):
        with pytest.raises(InvalidInput) as caught:
            decode_cursor(bad)
        assert caught.value.field == "cursor"


async def test_read_use_case_pages_and_refusals(api: Api) -> None:
    ids = [(await api.create_job())["jobId"] for _ in range(3)]
    page = await api.use_cases.read.page(CTX, status=None, limit=2, cursor=None)
    assert [j.job_id for j in page.jobs] == [ids[2], ids[1]]
    assert page.next_cursor == encode_cursor(ids[1])
    view = await api.use_cases.read.get(CTX, ids[0])
    assert view.status == JobStatus.PENDING
    with pytest.raises(InvalidInput, match=r"^limit: between 1 and 100$"):
        await api.use_cases.read.page(CTX, status=None, limit=0, cursor=None)
    with pytest.raises(JobNotFound):
        await api.use_cases.read.get(CTX, "0190000000000-00")
    with pytest.raises(InvalidInput, match=r"^jobId: "):  # malformed: not a lookup at all
        await api.use_cases.read.get(CTX, "../escape")

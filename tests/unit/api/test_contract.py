"""The exact contract: a malformed job id is 400 on every route (unknown is 404); the OpenAPI
document declares the patterns and limits the API enforces, and they are the storage keys' own
rules; 405 names every method of the path; a link on local storage can be followed; a Range with
a 5,000-digit number is no 500."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from talkavocado_api.schemas import (
    ARTIFACT_PATH_PATTERN,
    JOB_ID_PATTERN,
    TENANT_ID_PATTERN,
)
from talkavocado_common.storage import InvalidKey, JobKeys, validate_tenant_id
from talkavocado_common.storage.keys import validate_relative_path

from .support import TENANT_A, TENANT_B, Api, media

MALFORMED_JOB_IDS = ["a..b", "..x", "-job", "job-", "x" * 129, "job id", "jöb", "job%00"]


def job_operations(api: Api) -> list[tuple[str, str]]:
    """(method, path template) of every operation on one job, from the OpenAPI document."""
    document = api.app.openapi()
    return [
        (method.upper(), path)
        for path, item in document["paths"].items()
        if "{jobId}" in path
        for method in item
    ]


def concrete(path: str, job_id: str) -> str:
    return path.replace("{jobId}", job_id).replace("{path}", "renders/final.mp4")


def request_extra(method: str, path: str) -> dict[str, Any]:
    """A body the route accepts: the recording for the upload, an empty edit list for the plan."""
    if method != "PUT":
        return {}
    return {"json": {"edits": []}} if path.endswith("/plan") else {"content": media(100)}


@pytest.mark.parametrize("job_id", MALFORMED_JOB_IDS)
async def test_a_malformed_job_id_is_400_on_every_route(api: Api, job_id: str) -> None:
    operations = job_operations(api)
    assert len(operations) >= 7
    async with api.as_tenant_b() as client_b:
        for method, path in operations:
            for client, tenant in ((api.client, TENANT_A), (client_b, TENANT_A)):
                response = await client.request(
                    method,
                    concrete(path, job_id),
                    params={"tenantId": tenant},
                    **request_extra(method, path),
                )
                assert response.status_code == 400, (method, path, response.text)
                assert response.json()["error"] == "invalid_request"
                assert response.json()["detail"].startswith("jobId: ")
    assert api.publisher.events == []


async def test_an_unknown_well_formed_job_id_is_404(api: Api) -> None:
    for method, path in job_operations(api):
        response = await api.client.request(
            method,
            concrete(path, "0190000000000-feedfacefeedface"),
            params={"tenantId": TENANT_A},
            **request_extra(method, path),
        )
        assert response.status_code == 404, (method, path, response.text)


async def test_the_document_declares_patterns_limits_and_no_unsent_422(api: Api) -> None:
    document = api.app.openapi()
    for path, item in document["paths"].items():
        for method, operation in item.items():
            params = {p["name"]: p["schema"] for p in operation.get("parameters", [])}
            if "tenantId" in params:
                tenant = params["tenantId"]
                assert tenant["pattern"] == TENANT_ID_PATTERN
                assert (tenant["minLength"], tenant["maxLength"]) == (1, 64)
            if "jobId" in params:
                assert params["jobId"]["pattern"] == JOB_ID_PATTERN
                assert params["jobId"]["maxLength"] == 128
            if "path" in params:
                assert params["path"]["pattern"] == ARTIFACT_PATH_PATTERN
            responses = operation["responses"]
            # Validation answers 400; 422 is an upload that is not a recording, or a webhook
            # URL of the right shape that cannot be used.
            if operation["operationId"] not in ("uploadJobInput", "createWebhook"):
                assert "422" not in responses, (method, path)
            if params:
                assert "400" in responses, (method, path)
    schemas = document["components"]["schemas"]
    assert "HTTPValidationError" not in schemas
    body = schemas["CreateJobRequest"]["properties"]["tenantId"]
    assert body["pattern"] == TENANT_ID_PATTERN
    assert schemas["InputMetadata"]["properties"]["bytes"]["maximum"] == (
        api.settings.max_upload_bytes
    )
    create = document["paths"]["/jobs"]["post"]
    assert {"400", "401", "403", "409", "413", "429"} <= set(create["responses"])
    assert "GetJob" in create["responses"]["201"]["links"]


# The declared patterns are the storage keys' rules, exactly (checked with Python's re, as the
# schema-driven clients that generate from them read them).


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.from_regex(JOB_ID_PATTERN, fullmatch=True), st.text(max_size=12)))
def test_job_id_pattern_is_the_job_key_rule(job_id: str) -> None:
    declared = len(job_id) <= 128 and re.fullmatch(JOB_ID_PATTERN, job_id) is not None
    try:
        JobKeys("env", "tenant", job_id)
        accepted = True
    except InvalidKey:
        accepted = False
    assert declared == accepted, job_id


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.from_regex(TENANT_ID_PATTERN, fullmatch=True), st.text(max_size=8)))
def test_tenant_pattern_is_the_tenant_rule(tenant: str) -> None:
    declared = re.fullmatch(TENANT_ID_PATTERN, tenant) is not None
    try:
        validate_tenant_id(tenant)
        accepted = True
    except InvalidKey:
        accepted = False
    assert declared == accepted, tenant


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.from_regex(ARTIFACT_PATH_PATTERN, fullmatch=True),
        st.text(alphabet="a./_ -\\", max_size=10),
    )
)
def test_artifact_path_pattern_is_the_relative_path_rule(path: str) -> None:
    declared = re.fullmatch(ARTIFACT_PATH_PATTERN, path) is not None
    try:
        validate_relative_path(path)
        accepted = True
    except InvalidKey:
        accepted = False
    assert declared == accepted, path


async def test_405_names_every_method_of_the_path(api: Api) -> None:
    listing = await api.client.delete("/jobs", params={"tenantId": TENANT_A})
    assert listing.status_code == 405
    assert set(listing.headers["allow"].split(", ")) >= {"GET", "POST"}
    job = await api.client.patch(
        "/jobs/0190000000000-feedfacefeedface", params={"tenantId": TENANT_A}
    )
    assert job.status_code == 405
    assert "GET" in job.headers["allow"].split(", ")
    assert job.json()["error"] == "method_not_allowed"


async def test_a_local_link_is_signed_for_that_artifact_and_can_be_followed(api: Api) -> None:
    job = await api.create_job()
    keys = api.keys(job["jobId"])
    await api.storage.write_bytes(keys.final_render, b"the edit")
    await api.storage.write_bytes(keys.final_subtitles("srt"), b"1\n")
    link = await api.client.get(
        f"/jobs/{job['jobId']}/links/renders/final.mp4", params={"tenantId": TENANT_A}
    )
    assert link.status_code == 200
    body = link.json()
    assert body["direct"] is True  # no key needed: what a <video> element can follow
    assert body["expiresAt"] is not None
    url = httpx.URL(body["url"])
    assert url.path == f"/jobs/{job['jobId']}/artifacts/renders/final.mp4"
    assert url.params["tenantId"] == TENANT_A
    async with api.anonymous() as anonymous:
        followed = await anonymous.get(body["url"])  # as given: no parameters added
        assert followed.status_code == 200
        assert followed.content == b"the edit"
        # The signature holds for that artifact only, and only until it expires.
        other = body["url"].replace("renders/final.mp4", "subtitles/final.srt")
        assert (await anonymous.get(other)).status_code == 401
        forged = body["url"][:-1] + ("0" if body["url"][-1] != "0" else "1")
        assert (await anonymous.get(forged)).status_code == 401
        half = str(url.copy_remove_param("signature"))  # not a signed link: needs the key
        assert (await anonymous.get(half)).status_code == 401
        api.app.state.link_clock = lambda: float(url.params["expires"]) + 1
        expired = await anonymous.get(body["url"])
        assert expired.status_code == 401
        assert "expired" in expired.json()["detail"]
    unsigned = f"/jobs/{job['jobId']}/artifacts/renders/final.mp4"
    async with api.as_tenant_b() as client_b:  # without the signature, still tenant A's
        assert (await client_b.get(unsigned, params={"tenantId": TENANT_A})).status_code == 404


@pytest.mark.parametrize(
    ("header", "status"),
    [
        ("bytes=0-" + "9" * 5000, 200),  # clamped to the end: the whole artifact, as 206
        ("bytes=" + "9" * 5000 + "-", 416),
        ("bytes=-" + "9" * 5000, 206),
    ],
)
async def test_a_range_with_a_5000_digit_number_is_no_500(
    api: Api, header: str, status: int
) -> None:
    job = await api.create_job()
    await api.storage.write_bytes(api.keys(job["jobId"]).final_render, b"0123456789")
    response = await api.client.get(
        f"/jobs/{job['jobId']}/artifacts/renders/final.mp4",
        params={"tenantId": TENANT_A},
        headers={"Range": header},
    )
    assert response.status_code in (status, 206), response.text
    if response.status_code == 206:
        assert response.headers["content-range"] == "bytes 0-9/10"
    assert TENANT_B not in response.text

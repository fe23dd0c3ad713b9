"""A key of tenant B never reaches tenant A's jobs: 404 exactly as for a job that does not exist,
on every route, and nothing of A's is read or changed."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from talkavocado_common.models import ErrorCode, ErrorInfo, JobStatus, Manifest

from .support import TENANT_A, TENANT_B, Api, media

UNKNOWN_JOB = "0190000000000-feedfacefeedface"

ROUTES: list[tuple[str, str, dict[str, Any]]] = [
    ("GET", "/jobs/{job}", {}),
    ("PUT", "/jobs/{job}/input", {"content": media(1000)}),
    ("GET", "/jobs/{job}/artifacts/renders/final.mp4", {"headers": {"Range": "bytes=0-1"}}),
    ("GET", "/jobs/{job}/artifacts/manifest.json", {}),
    ("POST", "/jobs/{job}/cancel", {}),
    ("POST", "/jobs/{job}/retry", {}),
    ("GET", "/jobs/{job}/events", {}),
]


def without_correlation(response: httpx.Response) -> dict[str, Any]:
    body: dict[str, Any] = response.json()
    body.pop("correlationId")
    return body


async def a_job_of_tenant_a(api: Api) -> tuple[str, bytes, int]:
    job = await api.create_job(size=1000)
    keys = api.keys(job["jobId"])
    await api.storage.write_bytes(keys.final_render, b"A's video")

    def failed(m: Manifest) -> Manifest:  # retry and download would succeed for A
        error = ErrorInfo(code=ErrorCode.INTERNAL, message="x", step="video-cuts")
        return m.model_copy(update={"status": JobStatus.FAILED, "error": error})

    await api.manifests.update(keys, failed)
    manifest, _ = await api.storage.read_bytes(keys.manifest)
    return job["jobId"], manifest, len(await api.storage.list(f"test/{TENANT_A}/"))


@pytest.mark.parametrize(("method", "path", "extra"), ROUTES)
@pytest.mark.parametrize("claimed_tenant", [TENANT_A, TENANT_B])
async def test_other_tenants_job_is_404_like_a_missing_job(
    api: Api, method: str, path: str, extra: dict[str, Any], claimed_tenant: str
) -> None:
    job_id, manifest_before, files_before = await a_job_of_tenant_a(api)
    async with api.as_tenant_b() as client_b:
        response = await client_b.request(
            method, path.format(job=job_id), params={"tenantId": claimed_tenant}, **extra
        )
        missing = await client_b.request(
            method, path.format(job=UNKNOWN_JOB), params={"tenantId": TENANT_B}, **extra
        )
    assert response.status_code == 404
    assert missing.status_code == 404
    expected = without_correlation(missing)
    expected["detail"] = expected["detail"].replace(UNKNOWN_JOB, job_id)
    assert without_correlation(response) == expected
    assert response.headers["content-type"] == "application/json"

    keys = api.keys(job_id)
    assert (await api.storage.read_bytes(keys.manifest))[0] == manifest_before
    assert len(await api.storage.list(f"test/{TENANT_A}/")) == files_before
    assert api.publisher.events == []
    assert api.feed.subscriber_count(job_id) == 0


async def test_other_tenants_listing_is_404(api: Api) -> None:
    await a_job_of_tenant_a(api)
    async with api.as_tenant_b() as client_b:
        response = await client_b.get("/jobs", params={"tenantId": TENANT_A})
        own = await client_b.get("/jobs", params={"tenantId": TENANT_B})
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"
    assert own.status_code == 200
    assert own.json()["jobs"] == []


@pytest.mark.parametrize(("method", "path", "extra"), ROUTES)
async def test_every_job_route_needs_a_key(
    api: Api, method: str, path: str, extra: dict[str, Any]
) -> None:
    job_id, _, _ = await a_job_of_tenant_a(api)
    async with api.anonymous() as anonymous:
        response = await anonymous.request(
            method, path.format(job=job_id), params={"tenantId": TENANT_A}, **extra
        )
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"

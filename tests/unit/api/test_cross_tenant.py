"""A key of tenant B never reaches tenant A's jobs or webhooks: 404 exactly as for a job (or
webhook) that does not exist, on every route, and nothing of A's is read or changed."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from talkavocado_common.models import ErrorCode, ErrorInfo, JobStatus, Manifest

from .support import TENANT_A, TENANT_B, Api, build_api, client_for, media

UNKNOWN_JOB = "0190000000000-feedfacefeedface"
UNKNOWN_WEBHOOK = "wh_feedfacefeedfacefeedface"
ARTIFACT = "renders/final.mp4"  # tenant A's job has it


@dataclass(frozen=True)
class Operation:
    """One operation of the OpenAPI document, and how to call it on a job."""

    method: str
    path: str  # the template, e.g. /jobs/{jobId}/links/{path}
    operation: dict[str, Any]

    @property
    def on_a_job(self) -> bool:
        return "{jobId}" in self.path

    @property
    def on_a_webhook(self) -> bool:
        return "{webhookId}" in self.path

    def url(self, job_id: str, webhook_id: str = UNKNOWN_WEBHOOK) -> str:
        return (
            self.path.replace("{jobId}", job_id)
            .replace("{path}", ARTIFACT)
            .replace("{webhookId}", webhook_id)
        )

    def extra(self) -> dict[str, Any]:
        content = self.operation.get("requestBody", {}).get("content", {})
        if "application/octet-stream" in content:
            return {"content": media(1000)}
        if "application/json" in content:  # job creation, the plan's edits, a cancel's reason
            if self.path.endswith("/plan"):
                return {"json": {"edits": [{"start": 0, "end": 1, "action": "cut"}]}}
            if self.path == "/webhooks":
                return {"json": WEBHOOK}
            return {"json": BODY if self.path == "/jobs" else {"reason": "r"}}
        return {}


BODY = {
    "tenantId": TENANT_A,
    "input": {"originalFilename": "a.mp4", "bytes": 10, "mimeType": "video/mp4"},
}


WEBHOOK = {"url": "https://hooks.example.com/a", "events": ["job.completed"]}


def operations() -> list[Operation]:
    """Every operation the API documents, so a new route cannot be left out of these tests."""
    with tempfile.TemporaryDirectory() as tmp:
        document = build_api(Path(tmp)).app.openapi()
    return [
        Operation(method.upper(), path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
    ]


OPERATIONS = operations()
JOB_OPERATIONS = [op for op in OPERATIONS if op.on_a_job]
WEBHOOK_OPERATIONS = [op for op in OPERATIONS if op.on_a_webhook]
SECURED = [op for op in OPERATIONS if op.operation.get("security")]


def test_the_route_lists_come_from_the_whole_document() -> None:
    paths = {op.path for op in JOB_OPERATIONS}
    # The hand-written list these replace had missed the links.
    assert "/jobs/{jobId}/links/{path}" in paths
    assert "/jobs/{jobId}/artifacts/{path}" in paths
    assert len(JOB_OPERATIONS) >= 7
    assert {op.path for op in SECURED} >= paths | {"/jobs"}
    public = {op.path for op in OPERATIONS} - {op.path for op in SECURED}
    assert public == {"/healthz", "/readyz", "/metrics"}
    assert {f"{op.method} {op.path}" for op in WEBHOOK_OPERATIONS} == {
        "DELETE /webhooks/{webhookId}",
        "GET /webhooks/{webhookId}/deliveries",
    }
    assert {op.path for op in SECURED} >= {"/webhooks"}


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


@pytest.mark.parametrize("op", JOB_OPERATIONS, ids=lambda op: f"{op.method} {op.path}")
@pytest.mark.parametrize("claimed_tenant", [TENANT_A, TENANT_B])
async def test_other_tenants_job_is_404_like_a_missing_job(
    api: Api, op: Operation, claimed_tenant: str
) -> None:
    job_id, manifest_before, files_before = await a_job_of_tenant_a(api)
    async with api.as_tenant_b() as client_b:
        response = await client_b.request(
            op.method, op.url(job_id), params={"tenantId": claimed_tenant}, **op.extra()
        )
        missing = await client_b.request(
            op.method, op.url(UNKNOWN_JOB), params={"tenantId": TENANT_B}, **op.extra()
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


async def a_webhook_of_tenant_a(api: Api) -> tuple[str, list[str]]:
    response = await api.client.post("/webhooks", params={"tenantId": TENANT_A}, json=WEBHOOK)
    assert response.status_code == 201, response.text
    webhook_id: str = response.json()["id"]
    return webhook_id, await api.storage.list(f"test/{TENANT_A}/")


@pytest.mark.parametrize("op", WEBHOOK_OPERATIONS, ids=lambda op: f"{op.method} {op.path}")
@pytest.mark.parametrize("claimed_tenant", [TENANT_A, TENANT_B])
async def test_other_tenants_webhook_is_404_like_a_missing_webhook(
    api: Api, op: Operation, claimed_tenant: str
) -> None:
    webhook_id, files_before = await a_webhook_of_tenant_a(api)
    async with api.as_tenant_b() as client_b:
        response = await client_b.request(
            op.method, op.url(UNKNOWN_JOB, webhook_id), params={"tenantId": claimed_tenant}
        )
        missing = await client_b.request(
            op.method, op.url(UNKNOWN_JOB, UNKNOWN_WEBHOOK), params={"tenantId": TENANT_B}
        )
    assert response.status_code == 404
    assert missing.status_code == 404
    expected = without_correlation(missing)
    expected["detail"] = expected["detail"].replace(UNKNOWN_WEBHOOK, webhook_id)
    assert without_correlation(response) == expected
    assert response.headers["content-type"] == "application/json"
    assert await api.storage.list(f"test/{TENANT_A}/") == files_before


@pytest.mark.parametrize("path", ["/jobs", "/webhooks"])
async def test_other_tenants_listing_is_404(api: Api, path: str) -> None:
    await a_job_of_tenant_a(api)
    await a_webhook_of_tenant_a(api)
    async with api.as_tenant_b() as client_b:
        response = await client_b.get(path, params={"tenantId": TENANT_A})
        own = await client_b.get(path, params={"tenantId": TENANT_B})
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"
    assert own.status_code == 200
    assert own.json()[path.strip("/")] == []


@pytest.mark.parametrize("op", SECURED, ids=lambda op: f"{op.method} {op.path}")
@pytest.mark.parametrize("key", [None, "wrong-" + "k" * 40])
async def test_every_route_needs_a_key(api: Api, op: Operation, key: str | None) -> None:
    job_id, manifest_before, files_before = await a_job_of_tenant_a(api)
    async with client_for(api.app, key) as anonymous:
        response = await anonymous.request(
            op.method, op.url(job_id), params={"tenantId": TENANT_A}, **op.extra()
        )
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"
    assert response.headers["www-authenticate"] == "Bearer"
    keys = api.keys(job_id)
    assert (await api.storage.read_bytes(keys.manifest))[0] == manifest_before
    assert len(await api.storage.list(f"test/{TENANT_A}/")) == files_before
    assert api.publisher.events == []

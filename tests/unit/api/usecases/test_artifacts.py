"""Download artifacts: GET /jobs/{id}/artifacts/{path} whole or ranged (206/416), content types,
no traversal; and the use case itself."""

from __future__ import annotations

import pytest

from talkavocado_api.ranges import ByteRange
from talkavocado_api.usecases.errors import (
    ArtifactNotFound,
    InvalidInput,
    JobNotFound,
    RangeNotSatisfiable,
)
from talkavocado_common.manifest_changes import RecordExports
from talkavocado_common.models import ExportArtifact

from ..support import CTX, TENANT_A, TENANT_B, Api

DATA = bytes(range(256)) * 40  # 10240 bytes, every offset distinguishable


async def artifact_job(api: Api) -> tuple[str, str]:
    job = await api.create_job()
    key = api.keys(job["jobId"]).final_render
    await api.storage.write_bytes(key, DATA)
    return job["jobId"], f"/jobs/{job['jobId']}/artifacts/renders/final.mp4"


async def test_whole_artifact(api: Api) -> None:
    _, url = await artifact_job(api)
    response = await api.client.get(url, params={"tenantId": TENANT_A})
    assert response.status_code == 200
    assert response.content == DATA
    assert response.headers["content-type"] == "video/mp4"
    assert response.headers["content-length"] == str(len(DATA))
    assert response.headers["accept-ranges"] == "bytes"
    assert response.headers["etag"].startswith('"')


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [
        ("bytes=0-0", 0, 0),
        ("bytes=0-99", 0, 99),
        ("bytes=1000-", 1000, len(DATA) - 1),
        ("bytes=-10", len(DATA) - 10, len(DATA) - 1),
        ("bytes=10000-999999", 10000, len(DATA) - 1),
        (f"bytes={len(DATA) - 1}-", len(DATA) - 1, len(DATA) - 1),
    ],
)
async def test_ranges_are_206_with_exact_bytes(api: Api, header: str, start: int, end: int) -> None:
    _, url = await artifact_job(api)
    response = await api.client.get(url, params={"tenantId": TENANT_A}, headers={"Range": header})
    assert response.status_code == 206
    assert response.content == DATA[start : end + 1]
    assert response.headers["content-range"] == f"bytes {start}-{end}/{len(DATA)}"
    assert response.headers["content-length"] == str(end - start + 1)


@pytest.mark.parametrize("header", [f"bytes={len(DATA)}-", "bytes=20000-20001", "bytes=-0"])
async def test_unsatisfiable_range_is_416(api: Api, header: str) -> None:
    _, url = await artifact_job(api)
    response = await api.client.get(url, params={"tenantId": TENANT_A}, headers={"Range": header})
    assert response.status_code == 416
    assert response.headers["content-range"] == f"bytes */{len(DATA)}"
    assert response.json()["error"] == "range_not_satisfiable"


@pytest.mark.parametrize("header", ["bytes=0-1,4-5", "bytes=9-2", "pages=1-2"])
async def test_unusable_range_headers_send_the_whole_artifact(api: Api, header: str) -> None:
    _, url = await artifact_job(api)
    response = await api.client.get(url, params={"tenantId": TENANT_A}, headers={"Range": header})
    assert response.status_code == 200
    assert response.content == DATA


async def test_if_range_with_a_stale_etag_sends_it_whole(api: Api) -> None:
    _, url = await artifact_job(api)
    params = {"tenantId": TENANT_A}
    etag = (await api.client.get(url, params=params)).headers["etag"]
    fresh = await api.client.get(
        url, params=params, headers={"Range": "bytes=0-1", "If-Range": etag}
    )
    assert fresh.status_code == 206
    stale = await api.client.get(
        url, params=params, headers={"Range": "bytes=0-1", "If-Range": '"older"'}
    )
    assert stale.status_code == 200
    assert stale.content == DATA


async def test_full_storage_keys_are_accepted_as_paths(api: Api) -> None:
    job_id, _ = await artifact_job(api)
    key = api.keys(job_id).final_render
    response = await api.client.get(
        f"/jobs/{job_id}/artifacts/{key}",
        params={"tenantId": TENANT_A},
        headers={"Range": "bytes=0-3"},
    )
    assert response.status_code == 206
    assert response.content == DATA[:4]


@pytest.mark.parametrize(
    "path",
    [
        "..%2Fmanifest.json",
        "renders/%2E%2E/%2E%2E/other-job/manifest.json",
        "%2Fetc%2Fpasswd",
        "renders/.hidden",
        "a\\b",
    ],
)
async def test_paths_leaving_the_job_are_refused(api: Api, path: str) -> None:
    job_id, _ = await artifact_job(api)
    response = await api.client.get(
        f"/jobs/{job_id}/artifacts/{path}", params={"tenantId": TENANT_A}
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    assert "invalid artifact path" in response.json()["detail"]


async def test_missing_artifact_and_missing_job_are_404(api: Api) -> None:
    job_id, _ = await artifact_job(api)
    missing = await api.client.get(
        f"/jobs/{job_id}/artifacts/renders/preview.mp4", params={"tenantId": TENANT_A}
    )
    assert missing.status_code == 404
    assert missing.json()["detail"] == "no artifact 'renders/preview.mp4' in this job"
    unknown = await api.client.get(
        "/jobs/0190000000000-0000/artifacts/renders/final.mp4", params={"tenantId": TENANT_A}
    )
    assert unknown.status_code == 404
    assert unknown.json()["detail"] == "job '0190000000000-0000' not found"


# --- the use case, without HTTP ---------------------------------------------------------------


async def test_open_gives_the_range_and_its_body(api: Api) -> None:
    job_id, _ = await artifact_job(api)
    artifacts = api.use_cases.artifacts
    whole = await artifacts.open(CTX, job_id, "renders/final.mp4", range_header=None, if_range=None)
    assert (whole.size, whole.byte_range, whole.content_type) == (len(DATA), None, "video/mp4")
    assert b"".join([chunk async for chunk in whole.body]) == DATA
    part = await artifacts.open(
        CTX, job_id, "renders/final.mp4", range_header="bytes=10-19", if_range=f'"{whole.etag}"'
    )
    assert part.byte_range == ByteRange(10, 19)
    assert b"".join([chunk async for chunk in part.body]) == DATA[10:20]


async def test_open_refusals_are_domain_errors(api: Api) -> None:
    job_id, _ = await artifact_job(api)
    artifacts = api.use_cases.artifacts
    with pytest.raises(RangeNotSatisfiable) as caught:
        await artifacts.open(
            CTX, job_id, "renders/final.mp4", range_header="bytes=99999-", if_range=None
        )
    assert caught.value.size == len(DATA)
    with pytest.raises(InvalidInput, match="invalid artifact path"):
        await artifacts.open(CTX, job_id, "../x", range_header=None, if_range=None)
    with pytest.raises(ArtifactNotFound):
        await artifacts.link(CTX, job_id, "renders/none.mp4", api_url="/x")
    with pytest.raises(JobNotFound):
        await artifacts.link(CTX, "0190000000000-00", "renders/final.mp4", api_url="/x")


async def test_without_presigned_urls_the_link_is_the_apis_own(api: Api) -> None:
    job_id, _ = await artifact_job(api)
    link = await api.use_cases.artifacts.link(CTX, job_id, "renders/final.mp4", api_url="/own")
    assert (link.url, link.direct, link.expires_at, link.bytes) == ("/own", False, None, len(DATA))


# --- timeline exports (the timeline-export step) ----------------------------------------------

EXPORT_TYPES = {
    "otio": "application/json",
    "fcpxml": "application/xml",
    "xml": "application/xml",
    "edl": "text/plain; charset=utf-8",
}


async def test_timeline_exports_are_listed_and_downloadable_by_their_tenant_only(api: Api) -> None:
    job_id, _ = await artifact_job(api)
    keys = api.keys(job_id)
    written = []
    for fmt in EXPORT_TYPES:
        key = keys.timeline_export(fmt)  # type: ignore[arg-type]
        await api.storage.write_bytes(key, f"<{fmt}/>".encode())
        written.append(ExportArtifact(key=key, format=fmt))  # type: ignore[arg-type]
    await api.manifests.update(keys, RecordExports(tuple(written)))
    view = (await api.client.get(f"/jobs/{job_id}", params={"tenantId": TENANT_A})).json()
    assert view["artifacts"]["exports"] == [e.key for e in written]
    params = {"tenantId": TENANT_A}
    for fmt, content_type in EXPORT_TYPES.items():
        path = f"exports/timeline.{fmt}"
        response = await api.client.get(f"/jobs/{job_id}/artifacts/{path}", params=params)
        assert response.status_code == 200, response.text
        assert response.content == f"<{fmt}/>".encode()
        assert response.headers["content-type"] == content_type
        link = await api.client.get(f"/jobs/{job_id}/links/{path}", params=params)
        assert link.status_code == 200
        assert link.json()["bytes"] == len(f"<{fmt}/>")
    async with api.as_tenant_b() as other:
        for route in ("artifacts", "links"):
            refused = await other.get(
                f"/jobs/{job_id}/{route}/exports/timeline.fcpxml", params={"tenantId": TENANT_B}
            )
            assert refused.status_code == 404

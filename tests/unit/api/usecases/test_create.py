"""Create a job: POST /jobs (201 shape, 400s for tenant / input / options, 401/403,
Idempotency-Key → 409), and the use case itself."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from talkavocado_api.schemas import CreateJobRequest
from talkavocado_api.usecases.create import check_idempotency_key
from talkavocado_api.usecases.errors import IdempotencyKeyReused, InvalidInput
from talkavocado_common.models import JobStatus
from talkavocado_common.storage import LocalStorage

from ..support import (
    CTX,
    ENV,
    KEY_A,
    TENANT_A,
    TENANT_B,
    Api,
    build_api,
    client_for,
    make_settings,
)


def body(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "tenantId": TENANT_A,
        "input": {
            "originalFilename": "My Talk (final).mp4",
            "bytes": 1234,
            "mimeType": "video/mp4",
        },
    }
    data.update(overrides)
    return data


async def test_created_job_has_the_original_shape_and_a_pending_manifest(api: Api) -> None:
    response = await api.client.post("/jobs", json=body(options={"transitions": {"enabled": True}}))
    assert response.status_code == 201
    data = response.json()
    job_id = data["jobId"]
    assert data == {
        "jobId": job_id,
        "status": "pending",
        "env": ENV,
        "tenantId": TENANT_A,
        "manifestKey": f"{ENV}/{TENANT_A}/{job_id}/manifest.json",
        "uploadUrl": f"/jobs/{job_id}/input?tenantId={TENANT_A}",
    }
    assert response.headers["location"] == f"/jobs/{job_id}?tenantId={TENANT_A}"
    manifest = await api.manifests.get(api.keys(job_id))
    assert manifest.status == JobStatus.PENDING
    assert manifest.options.transitions.enabled is True
    assert manifest.input is not None
    assert manifest.input.bytes == 1234
    assert manifest.input.original_filename == "My Talk (final).mp4"
    assert manifest.input.key == f"{ENV}/{TENANT_A}/{job_id}/input/My_Talk_final_.mp4"
    assert api.publisher.events == []  # submitted only after the upload checks out


async def test_public_url_makes_the_upload_url_absolute(tmp_path: Path) -> None:
    built = build_api(tmp_path, make_settings(public_url="https://avocado.example/api/"))
    async with built.client:
        data = (await built.client.post("/jobs", json=body())).json()
    assert data["uploadUrl"] == (
        f"https://avocado.example/api/jobs/{data['jobId']}/input?tenantId={TENANT_A}"
    )


async def test_job_ids_are_time_ordered(api: Api) -> None:
    ids = [(await api.create_job())["jobId"] for _ in range(3)]
    assert ids == sorted(ids)


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"input": body()["input"]}, "tenantId"),
        (body(tenantId=""), "tenantId"),
        (body(tenantId="Tenant-A"), "tenantId"),
        (body(tenantId="-tenant"), "tenantId"),
        (body(tenantId="tenant-"), "tenantId"),
        (body(tenantId="a" * 65), "tenantId"),
        (body(tenantId="../etc"), "tenantId"),
        (body(tenantId=42), "tenantId"),
    ],
)
async def test_missing_or_malformed_tenant_is_400(
    api: Api, payload: dict[str, Any], field: str
) -> None:
    response = await api.client.post("/jobs", json=payload)
    assert response.status_code == 400
    data = response.json()
    assert data["error"] == "invalid_request"
    assert data["detail"].startswith(field)
    assert data["correlationId"] == response.headers["x-correlation-id"]


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("bytes", 0, "input.bytes"),
        ("bytes", -5, "input.bytes"),
        ("bytes", "many", "input.bytes"),
        ("mimeType", "text/plain", "input.mimeType: must be a video/* or audio/*"),
        ("mimeType", "video", "input.mimeType"),
        ("originalFilename", "", "input.originalFilename"),
        ("originalFilename", "a\nb.mp4", "input.originalFilename"),
    ],
)
async def test_invalid_input_metadata_is_400(
    api: Api, field: str, value: Any, expected: str
) -> None:
    payload = body()
    payload["input"] = {**payload["input"], field: value}
    response = await api.client.post("/jobs", json=payload)
    assert response.status_code == 400, response.text
    assert response.json()["detail"].startswith(expected)


async def test_missing_input_and_unknown_fields_are_400(api: Api) -> None:
    response = await api.client.post("/jobs", json={"tenantId": TENANT_A})
    assert response.status_code == 400
    assert response.json()["detail"] == "input: Field required"
    response = await api.client.post("/jobs", json=body(priority="high"))
    assert response.status_code == 400
    assert response.json()["detail"].startswith("priority: Extra inputs are not permitted")


async def test_declared_size_above_the_maximum_is_400(tmp_path: Path) -> None:
    built = build_api(tmp_path, make_settings(MAX_UPLOAD_BYTES=1000))
    async with built.client:
        payload = body()
        payload["input"]["bytes"] = 1001
        response = await built.client.post("/jobs", json=payload)
    assert response.status_code == 400
    assert "maximum upload size of 1000 bytes" in response.json()["detail"]


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"planner": {"minPauseMs": 10}}, "options.planner.minPauseMs: Input should be greater"),
        ({"transitions": {"durationMs": 99999}}, "options.transitions.durationMs"),
        ({"render": {"preset": "instant"}}, "options.render.preset"),
        ({"planner": {"fillers": ["um", "  "]}}, "options.planner.fillers"),
        (
            {"planner": {"fillers": ["um"] * 101}},
            "options.planner.fillers: List should have at most 100",
        ),
        (
            {"planner": {"fillers": ["a" * 41]}},
            "options.planner.fillers: each filler is at most 40",
        ),
        (
            {"planner": {"fillers": ["you know what i mean"]}},
            "options.planner.fillers: each filler",
        ),
        ({"audio": {"loudness": -60}}, "options.audio.loudness: loudness target must lie between"),
        ({"audio": {"loudness": "loud"}}, "options.audio.loudness: loudness is a target"),
        ({"audio": {"truePeakDb": 3}}, "options.audio.truePeakDb"),
        ({"colour": "green"}, "options.colour: Extra inputs are not permitted"),
    ],
)
async def test_invalid_options_are_400_with_the_validation_message(
    api: Api, options: dict[str, Any], expected: str
) -> None:
    response = await api.client.post("/jobs", json=body(options=options))
    assert response.status_code == 400, response.text
    data = response.json()
    assert data["detail"].startswith(expected), data
    assert data["errors"][0]["field"] == expected.split(":")[0]


@pytest.mark.parametrize(
    ("content", "headers", "expected"),
    [
        (b"{", {"content-type": "application/json"}, "the body is not valid JSON"),
        (b"[1, 2]", {"content-type": "application/json"}, "the body must be a JSON object"),
        (b"", {"content-type": "application/json"}, "a JSON body is required"),
    ],
)
async def test_malformed_bodies_are_400_json(
    api: Api, content: bytes, headers: dict[str, str], expected: str
) -> None:
    response = await api.client.post("/jobs", content=content, headers=headers)
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/json"
    assert response.json()["detail"].startswith(expected)


async def test_oversized_json_body_is_413(api: Api) -> None:
    payload = body(options={"planner": {"fillers": ["um" * 100] * 6000}})
    response = await api.client.post("/jobs", json=payload)
    assert response.status_code == 413
    assert response.json()["error"] == "payload_too_large"


async def test_chunked_oversized_json_body_is_413(api: Api) -> None:
    async def endless() -> AsyncIterator[bytes]:
        yield b'{"tenantId": "tenant-a", "pad": "'
        for _ in range(40):
            yield b"x" * 65536
        yield b'"}'

    response = await api.client.post(
        "/jobs", content=endless(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json()["detail"] == "request bodies are limited to 1048576 bytes"


class FailingCreate(LocalStorage):
    async def write_bytes(
        self, key: str, data: bytes, *, if_match: str | None = None, if_none_match: bool = False
    ) -> str:
        if key.endswith("manifest.json") and self.fail:
            raise OSError("disk full")
        return await super().write_bytes(key, data, if_match=if_match, if_none_match=if_none_match)

    fail = True


async def test_failed_creation_frees_the_idempotency_key(tmp_path: Path) -> None:
    storage = FailingCreate(tmp_path / "s")
    built = build_api(tmp_path, storage=storage)
    headers = {"Idempotency-Key": "retry-me"}
    async with built.client:
        failed = await built.client.post("/jobs", json=body(), headers=headers)
        assert failed.status_code == 500
        storage.fail = False
        again = await built.client.post("/jobs", json=body(), headers=headers)
    assert again.status_code == 201


async def test_no_key_is_401_even_with_an_invalid_body(api: Api) -> None:
    async with api.anonymous() as anonymous:
        for payload in (body(), {"nonsense": True}):
            response = await anonymous.post("/jobs", json=payload)
            assert response.status_code == 401
            assert response.json()["error"] == "unauthorized"
            assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(
    "authorization",
    [f"Basic {KEY_A}", "Bearer", "Bearer wrong-key-0123456789", f"Bearer {KEY_A}x", KEY_A],
)
async def test_bad_credentials_are_401(api: Api, authorization: str) -> None:
    response = await api.anonymous().post(
        "/jobs", json=body(), headers={"Authorization": authorization}
    )
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"


async def test_another_tenants_id_in_the_body_is_403_and_writes_nothing(api: Api) -> None:
    response = await api.client.post("/jobs", json=body(tenantId=TENANT_B))
    assert response.status_code == 403
    assert response.json()["error"] == "forbidden"
    assert await api.storage.list(f"{ENV}/{TENANT_B}/") == []


async def test_repeated_idempotency_key_is_409_with_the_first_job(api: Api) -> None:
    headers = {"Idempotency-Key": "order-42"}
    first = await api.client.post("/jobs", json=body(), headers=headers)
    assert first.status_code == 201
    again = await api.client.post("/jobs", json=body(), headers=headers)
    assert again.status_code == 409
    data = again.json()
    assert data["error"] == "idempotency_key_reused"
    assert data["jobId"] == first.json()["jobId"]
    assert data["manifestKey"] == first.json()["manifestKey"]
    listed = (await api.client.get("/jobs", params={"tenantId": TENANT_A})).json()
    assert [j["jobId"] for j in listed["jobs"]] == [first.json()["jobId"]]


async def test_idempotency_race_has_exactly_one_winner(api: Api) -> None:
    for round_ in range(5):
        headers = {"Idempotency-Key": f"race-{round_}"}
        responses = await asyncio.gather(
            *(api.client.post("/jobs", json=body(), headers=headers) for _ in range(4))
        )
        codes = sorted(r.status_code for r in responses)
        assert codes == [201, 409, 409, 409]
        winner = next(r for r in responses if r.status_code == 201).json()["jobId"]
        assert {r.json()["jobId"] for r in responses} == {winner}


async def test_idempotency_keys_are_per_tenant(api: Api) -> None:
    headers = {"Idempotency-Key": "shared"}
    assert (await api.client.post("/jobs", json=body(), headers=headers)).status_code == 201
    async with api.as_tenant_b() as client_b:
        response = await client_b.post("/jobs", json=body(tenantId=TENANT_B), headers=headers)
    assert response.status_code == 201


@pytest.mark.parametrize("key", [b"", b"x" * 256, "naïve".encode()])
async def test_malformed_idempotency_key_is_400(api: Api, key: bytes) -> None:
    response = await api.client.post("/jobs", json=body(), headers={"Idempotency-Key": key})
    assert response.status_code == 400
    assert response.json()["detail"].startswith("Idempotency-Key")


async def test_correlation_id_is_echoed_or_generated(api: Api) -> None:
    given = await api.client.post("/jobs", json=body(), headers={"x-correlation-id": "req-123"})
    assert given.headers["x-correlation-id"] == "req-123"
    generated = await api.client.post("/jobs", json=body())
    assert len(generated.headers["x-correlation-id"]) == 32
    junk = await api.client.post("/jobs", json=body(), headers={"x-correlation-id": "a b\tc"})
    assert junk.headers["x-correlation-id"] != "a b\tc"


async def test_keys_may_come_from_a_file_of_hashed_keys(tmp_path: Path) -> None:
    import hashlib

    keys_file = tmp_path / "keys"
    digest = hashlib.sha256(b"file-key-0123456789abcdef").hexdigest()
    keys_file.write_text(f"# tenant keys\n{TENANT_A}:sha256:{digest}\n")
    built = build_api(tmp_path, make_settings(keys="", keys_file=keys_file))
    async with client_for(built.app, "file-key-0123456789abcdef") as client:
        assert (await client.post("/jobs", json=body())).status_code == 201


# --- the use case, without HTTP ---------------------------------------------------------------


def test_idempotency_key_check() -> None:
    assert check_idempotency_key(None) is None
    assert check_idempotency_key("abc-123") == "abc-123"
    for bad in ("", "x" * 256, "tab\there", "ünï"):
        with pytest.raises(InvalidInput) as caught:
            check_idempotency_key(bad)
        assert caught.value.field == "Idempotency-Key"


async def test_create_returns_the_new_jobs_keys_and_refuses_a_reused_key(api: Api) -> None:
    request = CreateJobRequest.model_validate(body())
    keys = await api.use_cases.create(CTX, request, "once")
    manifest = await api.manifests.get(keys)
    assert (keys.env, keys.tenant_id) == (ENV, TENANT_A)
    assert manifest.status == JobStatus.PENDING
    with pytest.raises(IdempotencyKeyReused) as caught:
        await api.use_cases.create(CTX, request, "once")
    assert (caught.value.job_id, caught.value.manifest_key) == (keys.job_id, keys.manifest)


async def test_create_refuses_a_declared_size_above_the_maximum(tmp_path: Path) -> None:
    built = build_api(tmp_path, make_settings(MAX_UPLOAD_BYTES=1000))
    request = CreateJobRequest.model_validate(body())
    with pytest.raises(InvalidInput) as caught:
        await built.use_cases.create(CTX, request, None)
    assert caught.value.field == "input.bytes"
    assert await built.storage.list(f"{ENV}/") == []

"""/healthz, /readyz, /metrics, OpenAPI, JSON errors everywhere, JSON logs with context."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from talkavocado_api.context import ContextFilter, JsonFormatter
from talkavocado_common.storage import LocalStorage

from .support import TENANT_A, Api, build_api, client_for, make_settings


async def test_healthz_needs_no_key(api: Api) -> None:
    async with api.anonymous() as client:
        response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert response.headers["x-correlation-id"]


async def test_readyz_runs_every_check(tmp_path: Path) -> None:
    state = {"broker_up": True}

    async def broker() -> None:
        if not state["broker_up"]:
            raise ConnectionError("127.0.0.1:9092 refused")

    async def slow() -> None:
        await anyio.sleep(10)

    storage = LocalStorage(tmp_path / "s")
    from talkavocado_api.ports import storage_check

    built = build_api(
        tmp_path,
        make_settings(readiness_timeout_seconds=0.1),
        readiness_checks={"broker": broker, "storage": storage_check(storage)},
        storage=storage,
    )
    async with built.client:
        ready = await built.client.get("/readyz")
        assert ready.status_code == 200
        assert ready.json() == {"status": "ready", "checks": {"broker": "ok", "storage": "ok"}}
        state["broker_up"] = False
        down = await built.client.get("/readyz")
        assert down.status_code == 503
        data = down.json()
        assert data["error"] == "not_ready"
        assert data["failed"] == ["broker"]
        assert data["checks"]["storage"] == "ok"
        assert "refused" in data["detail"]
        built.app.state.readiness_checks["storage"] = slow
        hung = await built.client.get("/readyz")
        assert hung.json()["failed"] == ["broker", "storage"]
        assert hung.json()["checks"]["storage"] == "timed out after 0.1 s"


async def test_metrics_count_requests_by_route_template_and_status(api: Api) -> None:
    job = await api.create_job()
    await api.client.get(f"/jobs/{job['jobId']}", params={"tenantId": TENANT_A})
    await api.client.get("/jobs/0190000000000-0", params={"tenantId": TENANT_A})
    await api.client.get("/no/such/route")
    async with api.anonymous() as client:
        response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert 'talkavocado_api_requests_total{method="POST",route="/jobs",status="201"} 1.0' in text
    assert (
        'talkavocado_api_requests_total{method="GET",route="/jobs/{jobId}",status="200"} 1.0'
        in text
    )
    assert (
        'talkavocado_api_requests_total{method="GET",route="/jobs/{jobId}",status="404"} 1.0'
        in text
    )
    assert 'route="<unmatched>",status="404"' in text
    assert 'talkavocado_api_request_duration_seconds_bucket{le="0.005",method="POST"' in text
    assert "talkavocado_api_jobs_created_total 1.0" in text


async def test_openapi_has_a_stable_operation_id_on_every_route(api: Api) -> None:
    spec = (await api.client.get("/openapi.json")).json()
    operations = {
        (path, method): op["operationId"]
        for path, methods in spec["paths"].items()
        for method, op in methods.items()
    }
    assert operations == {
        ("/jobs", "post"): "createJob",
        ("/jobs", "get"): "listJobs",
        ("/jobs/{jobId}", "get"): "getJob",
        ("/jobs/{jobId}/input", "put"): "uploadJobInput",
        ("/jobs/{jobId}/links/{path}", "get"): "getJobArtifactLink",
        ("/jobs/{jobId}/artifacts/{path}", "get"): "getJobArtifact",
        ("/jobs/{jobId}/cancel", "post"): "cancelJob",
        ("/jobs/{jobId}/retry", "post"): "retryJob",
        ("/jobs/{jobId}/events", "get"): "streamJobEvents",
        ("/jobs/{jobId}/plan", "get"): "getJobPlan",
        ("/jobs/{jobId}/plan", "put"): "editJobPlan",
        ("/jobs/{jobId}/render", "post"): "renderJobRevision",
        ("/session", "get"): "getSession",
        ("/webhooks", "post"): "createWebhook",
        ("/webhooks", "get"): "listWebhooks",
        ("/webhooks/{webhookId}", "delete"): "deleteWebhook",
        ("/webhooks/{webhookId}/deliveries", "get"): "listWebhookDeliveries",
        ("/healthz", "get"): "healthz",
        ("/readyz", "get"): "readyz",
        ("/metrics", "get"): "metrics",
    }
    assert "ApiKey" in spec["components"]["securitySchemes"]
    create = spec["paths"]["/jobs"]["post"]
    assert set(create["responses"]) >= {"201", "400", "401", "403", "409"}
    docs = await api.client.get("/docs")
    assert docs.status_code == 200


async def test_unknown_routes_and_methods_are_json(api: Api) -> None:
    missing = await api.client.get("/nope")
    assert missing.status_code == 404
    assert missing.json()["error"] == "not_found"
    wrong = await api.client.delete("/jobs")
    assert wrong.status_code == 405
    assert wrong.json()["error"] == "method_not_allowed"


class BrokenStorage(LocalStorage):
    async def read_bytes(self, key: str) -> tuple[bytes, str]:
        raise RuntimeError("disk on fire: /secret/path")


async def test_unexpected_errors_are_json_500_without_details(tmp_path: Path) -> None:
    built = build_api(tmp_path, storage=BrokenStorage(tmp_path / "s"))
    async with built.client:
        response = await built.client.get("/jobs/0190000000000-0000", params={"tenantId": TENANT_A})
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/json"
    data = response.json()
    assert data == {
        "error": "internal_error",
        "detail": "internal server error",
        "correlationId": response.headers["x-correlation-id"],
    }


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield buffer
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)


async def test_log_lines_are_json_with_correlation_tenant_and_job(
    tmp_path: Path, json_log: io.StringIO
) -> None:
    built = build_api(tmp_path)
    async with built.client:
        job = await built.create_job()
        json_log.truncate(0)
        json_log.seek(0)
        response = await built.client.put(
            job["uploadUrl"],
            content=b"FAKEMEDIA:av\n" + b"\0" * 987,
            headers={"x-correlation-id": "corr-log-1"},
        )
    assert response.status_code == 202
    lines = [json.loads(line) for line in json_log.getvalue().splitlines()]
    lines = [line for line in lines if line["logger"].startswith("talkavocado_api")]
    assert {line["message"] for line in lines} >= {
        "input stored",
        "published job.submitted",
        f"PUT /jobs/{job['jobId']}/input 202",
    }
    for line in lines:
        assert line["correlationId"] == "corr-log-1", line
        assert line["tenantId"] == TENANT_A, line
        assert line["jobId"] == job["jobId"], line


async def test_settings_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from talkavocado_api import ApiSettings

    monkeypatch.setenv("API_KEYS", "t1:nj8wr89KpYl7IOeuxhGhMoFtg3whR8lrOlNDvlSC6cI")
    monkeypatch.setenv("API_PORT", "9123")
    monkeypatch.setenv("MAX_UPLOAD_BYTES", "5000")
    monkeypatch.setenv("TALKAVOCADO_ENV", "prod")
    monkeypatch.setenv("KAFKA_TOPIC_PREFIX", "x.")
    settings = ApiSettings()
    assert settings.port == 9123
    assert settings.max_upload_bytes == 5000
    assert settings.env == "prod"
    assert settings.kafka.topic_prefix == "x."
    assert "nj8wr89KpYl7IOeuxhGhMoFtg3whR8lrOlNDvlSC6cI" not in repr(settings)
    built = build_api(tmp_path, settings)
    async with client_for(built.app, "nj8wr89KpYl7IOeuxhGhMoFtg3whR8lrOlNDvlSC6cI") as client:
        response = await client.post(
            "/jobs",
            json={
                "tenantId": "t1",
                "input": {"originalFilename": "a.mp4", "bytes": 5, "mimeType": "video/mp4"},
            },
        )
    assert response.json()["manifestKey"].startswith("prod/t1/")
    assert built.publisher.events == []


async def test_job_creation_logs_the_new_job_id(tmp_path: Path, json_log: io.StringIO) -> None:
    built = build_api(tmp_path)
    async with built.client:
        job = await built.create_job()
    lines = [json.loads(line) for line in json_log.getvalue().splitlines()]
    created = next(line for line in lines if line["message"] == "job created")
    assert created["jobId"] == job["jobId"]
    assert created["tenantId"] == TENANT_A


def test_entry_point_refuses_to_start_without_keys(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from talkavocado_api.__main__ import build_app, main

    monkeypatch.delenv("API_KEYS", raising=False)
    monkeypatch.setenv("STORAGE_URL", str(tmp_path / "s"))
    monkeypatch.setattr("talkavocado_api.__main__.configure_observability", lambda *a, **k: None)
    assert main() == 2
    monkeypatch.setenv("API_KEYS", "t1:nj8wr89KpYl7IOeuxhGhMoFtg3whR8lrOlNDvlSC6cI")
    from talkavocado_api import ApiSettings

    app = build_app(ApiSettings())
    assert set(app.state.readiness_checks) == {"storage", "broker"}

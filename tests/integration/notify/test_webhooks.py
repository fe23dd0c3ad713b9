"""Webhooks end to end: registered through the API, delivered by the notify service from
jobs.status on the real (embedded) broker to a receiver on loopback, logged in storage and read
back through the API.

- the receiver checks every signature and gets exactly one `job.completed` per job, though
  the status events come twice (the same event, and the same end emitted again with a new id);
- a receiver that answers 500 twice gets the third try, with the same `webhook-id`, and the
  retry survives a restart of the service (its state is in storage);
- a loopback destination is refused when private destinations are not allowed, and the
  delivery log says so.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from talkavocado_api import ApiSettings, InMemoryPublisher, InMemoryStatusFeed, create_app
from talkavocado_common.events import JobStatusChanged, Topics, new_event
from talkavocado_common.kafka import ensure_topics
from talkavocado_common.models import JobStatus
from talkavocado_common.settings import KafkaSettings, StorageSettings
from talkavocado_common.storage import LocalStorage
from talkavocado_notify.service import NotifyService
from talkavocado_notify.settings import NotifySettings
from tests.support.http import serve_on_loopback
from tests.support.kafka import publish

pytestmark = pytest.mark.slow

ENV = "test"
KEYS = {
    "acme": "8LVmzxvZi4otej-FWmLaT0HrBzgwfsK11-irodgTx9c",
    "flaky": "sCdhofnhzI2WV9iOOO4u5avefMuJypt6q2RPMSlSrgE",
}
WAIT_SECONDS = 60.0


def verify(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """What a receiver does (the README's recipe)."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    offered = [s.removeprefix("v1,") for s in headers["webhook-signature"].split()]
    fresh = abs(time.time() - int(headers["webhook-timestamp"])) < 300
    return fresh and any(hmac.compare_digest(expected, s) for s in offered)


@dataclass
class Call:
    path: str
    webhook_id: str
    body: dict[str, Any]
    valid: bool


@dataclass
class Receiver:
    """An ASGI app: records each call, checks its signature, answers 500 to the first
    `failures[path]` calls on a path and 204 after."""

    secrets: dict[str, str] = field(default_factory=dict)
    failures: dict[str, int] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)

    def on(self, path: str) -> list[Call]:
        return [c for c in self.calls if c.path == path]

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        path = scope["path"]
        valid = verify(self.secrets[path], headers, body)
        self.calls.append(Call(path, headers["webhook-id"], json.loads(body), valid))
        status = 500 if len(self.on(path)) <= self.failures.get(path, 0) else 204
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b""})


async def eventually(check: Callable[[], Any], what: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not await check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


@pytest.fixture
def storage(tmp_path: Path) -> LocalStorage:
    return LocalStorage(tmp_path / "storage")


@pytest.fixture
def api(storage: LocalStorage) -> Callable[[str], httpx.AsyncClient]:
    settings = ApiSettings(
        keys=",".join(f"{tenant}:{key}" for tenant, key in KEYS.items()),
        storage=StorageSettings(STORAGE_URL="unused", TALKAVOCADO_ENV=ENV),
    )
    app = create_app(
        settings, storage=storage, publisher=InMemoryPublisher(), status_feed=InMemoryStatusFeed()
    )

    def client(tenant: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://api.test",
            headers={"Authorization": f"Bearer {KEYS[tenant]}"},
            params={"tenantId": tenant},
        )

    return client


async def register(
    api: Callable[[str], httpx.AsyncClient], tenant: str, url: str, events: list[str]
) -> dict[str, Any]:
    async with api(tenant) as client:
        response = await client.post("/webhooks", json={"url": url, "events": events})
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def delivery_log(
    api: Callable[[str], httpx.AsyncClient], tenant: str, webhook_id: str
) -> list[dict[str, Any]]:
    async with api(tenant) as client:
        response = await client.get(f"/webhooks/{webhook_id}/deliveries")
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["deliveries"]
    return found


def notify_settings(kafka: KafkaSettings, root: Path, **overrides: Any) -> NotifySettings:
    values: dict[str, Any] = {
        "kafka": kafka,
        "storage": StorageSettings(STORAGE_URL=str(root), TALKAVOCADO_ENV=ENV),
        "metrics_enabled": False,
        "poll_seconds": 0.1,
        "timeout_seconds": 5.0,
        "scan_seconds": 0.5,
        "shutdown_grace_seconds": 5.0,
        "allow_private_destinations": True,
        "retry_base_seconds": 3.0,  # each retry comes 1.5-3 s after the try before
        "retry_max_seconds": 3.0,
        **overrides,
    }
    return NotifySettings(**values)


@contextlib.asynccontextmanager
async def running(settings: NotifySettings, storage: LocalStorage) -> AsyncIterator[NotifyService]:
    service = NotifyService(settings, storage)
    task = asyncio.create_task(service.run())
    try:
        yield service
    finally:
        service.request_stop()
        await asyncio.wait_for(task, 30)


def status_event(tenant: str, job_id: str, status: JobStatus, **extra: Any) -> Any:
    payload = JobStatusChanged(
        job_id=job_id,
        tenant_id=tenant,
        env=ENV,
        status=status,
        progress=1.0 if status is JobStatus.COMPLETED else 0.5,
        state="mark-complete" if status is JobStatus.COMPLETED else "video-cuts",
        **extra,
    )
    return new_event(
        "job.status-changed",
        payload,
        source="/talkavocado/orchestrator",
        subject=job_id,
        tenant_id=tenant,
    )


async def test_one_signed_delivery_per_job_and_retries_across_a_restart(
    kafka: KafkaSettings, storage: LocalStorage, api: Callable[[str], httpx.AsyncClient]
) -> None:
    topics = Topics(kafka.topic_prefix)
    await ensure_topics(kafka, [topics.status, topics.dlq])
    receiver = Receiver(failures={"/flaky": 2})
    settings = notify_settings(kafka, storage.root)
    async with serve_on_loopback(receiver) as url:
        ok = await register(api, "acme", f"{url}/ok", ["job.completed"])
        flaky = await register(api, "flaky", f"{url}/flaky", ["job.completed", "job.failed"])
        receiver.secrets = {"/ok": ok["secret"], "/flaky": flaky["secret"]}

        first = status_event("acme", "job-1", JobStatus.COMPLETED)
        await publish(
            kafka,
            topics.status,
            status_event("acme", "job-1", JobStatus.PROCESSING),  # not a webhook event
            first,
            first,  # the very same event again
            status_event("acme", "job-2", JobStatus.COMPLETED),
            status_event("acme", "job-2", JobStatus.COMPLETED),  # the same end, a new id
            status_event("flaky", "job-3", JobStatus.COMPLETED),
        )

        async with running(settings, storage):
            await eventually(
                lambda: _true(len(receiver.on("/ok")) >= 2 and receiver.on("/flaky")),
                "the first calls",
            )
        assert len(receiver.on("/flaky")) < 3  # the rest is up to the next process

        async with running(settings, storage):  # a new process: the retry comes from storage
            await eventually(lambda: _true(len(receiver.on("/flaky")) >= 3), "the third try")
            await asyncio.sleep(1.0)  # anything more would arrive now

        oks = receiver.on("/ok")
        assert sorted(c.body["data"]["jobId"] for c in oks) == ["job-1", "job-2"]
        assert all(c.valid for c in receiver.calls)
        assert len({c.webhook_id for c in oks}) == 2
        assert {c.body["type"] for c in receiver.calls} == {"job.completed"}
        assert (
            next(c for c in oks if c.body["data"]["jobId"] == "job-1").body["data"]["eventId"]
            == first.id
        )

        tries = receiver.on("/flaky")
        assert len(tries) == 3
        assert len({c.webhook_id for c in tries}) == 1  # one delivery, one id

    [flaky_log] = await delivery_log(api, "flaky", flaky["id"])
    assert flaky_log["state"] == "delivered"
    assert [a["statusCode"] for a in flaky_log["attempts"]] == [500, 500, 204]
    assert flaky_log["id"] == tries[0].webhook_id
    ok_log = await delivery_log(api, "acme", ok["id"])
    assert sorted(d["jobId"] for d in ok_log) == ["job-1", "job-2"]
    assert all(d["state"] == "delivered" and len(d["attempts"]) == 1 for d in ok_log)
    assert await storage.list(f"{ENV}/_webhook-retries/") == []


async def test_a_private_destination_is_refused_unless_allowed(
    kafka: KafkaSettings, storage: LocalStorage, api: Callable[[str], httpx.AsyncClient]
) -> None:
    topics = Topics(kafka.topic_prefix)
    await ensure_topics(kafka, [topics.status, topics.dlq])
    receiver = Receiver()
    settings = notify_settings(kafka, storage.root, allow_private_destinations=False)
    async with serve_on_loopback(receiver) as url:
        hook = await register(api, "acme", f"{url}/inside", ["job.failed"])
        receiver.secrets = {"/inside": hook["secret"]}
        await publish(kafka, topics.status, status_event("acme", "job-9", JobStatus.FAILED))

        async def refused() -> bool:
            log = await delivery_log(api, "acme", hook["id"])
            return bool(log) and log[0]["state"] == "refused"

        async with running(settings, storage):
            await eventually(refused, "the refusal in the delivery log")

    [entry] = await delivery_log(api, "acme", hook["id"])
    assert entry["eventType"] == "job.failed"
    assert entry["jobId"] == "job-9"
    [attempt] = entry["attempts"]
    assert attempt["statusCode"] is None
    assert "127.0.0.1 is a loopback address" in attempt["error"]
    assert receiver.calls == []
    assert await storage.list(f"{ENV}/_webhook-retries/") == []


async def _true(value: Any) -> bool:
    return bool(value)

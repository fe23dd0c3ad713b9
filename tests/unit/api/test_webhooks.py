"""/webhooks: register (the secret once), list, remove, read the delivery log; validation and
tenant scope."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from talkavocado_api.usecases.webhooks import MAX_WEBHOOKS_PER_TENANT, destination_problem
from talkavocado_common.webhooks import (
    DeliveryAttempt,
    WebhookDelivery,
    WebhookKeys,
    secret_bytes,
)

from .support import ENV, TENANT_A, TENANT_B, Api

A = {"tenantId": TENANT_A}
HOOK = {"url": "https://hooks.example.com/talkavocado", "events": ["job.completed", "job.failed"]}


async def register(api: Api, **body: Any) -> dict[str, Any]:
    response = await api.client.post("/webhooks", params=A, json={**HOOK, **body})
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    return data


async def test_register_list_and_remove(api: Api) -> None:
    created = await register(api)
    assert created["id"].startswith("wh_")
    assert created["tenantId"] == TENANT_A
    assert created["events"] == ["job.completed", "job.failed"]
    assert created["secret"].startswith("whsec_")
    assert len(secret_bytes(created["secret"])) == 24

    listed = (await api.client.get("/webhooks", params=A)).json()["webhooks"]
    assert [w["id"] for w in listed] == [created["id"]]
    assert "secret" not in listed[0]

    removed = await api.client.delete(f"/webhooks/{created['id']}", params=A)
    assert removed.status_code == 204
    assert removed.content == b""
    assert (await api.client.get("/webhooks", params=A)).json() == {"webhooks": []}
    again = await api.client.delete(f"/webhooks/{created['id']}", params=A)
    assert again.status_code == 404
    assert again.json()["error"] == "not_found"


async def test_the_registration_is_stored_under_the_tenant(api: Api) -> None:
    created = await register(api)
    key = WebhookKeys(ENV, TENANT_A).registration(created["id"])
    assert key == f"{ENV}/{TENANT_A}/_webhooks/{created['id']}/webhook.json"
    assert await api.storage.exists(key)


async def test_events_are_kept_in_order_without_repeats(api: Api) -> None:
    created = await register(api, events=["job.cancelled", "job.completed", "job.cancelled"])
    assert created["events"] == ["job.completed", "job.cancelled"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "ftp://example.com/x"}, "url"),
        ({"url": "example.com/x"}, "url"),
        ({"url": "https://user:pw@example.com/x"}, "url"),
        ({"url": "https://example.com/" + "a" * 2100}, "url"),
        ({"url": "https://exa mple.com/"}, "url"),
        ({"events": []}, "events"),
        ({"events": ["job.started"]}, "events.0"),
        ({"events": "job.completed"}, "events"),
        ({"secret": "mine"}, "secret"),
    ],
)
async def test_invalid_bodies_are_400(api: Api, body: dict[str, Any], field: str) -> None:
    response = await api.client.post("/webhooks", params=A, json={**HOOK, **body})
    assert response.status_code == 400, response.text
    error = response.json()
    assert error["error"] == "invalid_request"
    assert error["errors"][0]["field"] == field


@pytest.mark.parametrize(
    "url",
    ["http://example.com:99999/x", "http://example.com:0/", "http://a_b.example/", "http://[zz]/"],
)
async def test_urls_of_the_right_shape_that_cannot_be_used_are_422(api: Api, url: str) -> None:
    response = await api.client.post("/webhooks", params=A, json={**HOOK, "url": url})
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "input_invalid"
    assert response.json()["detail"].startswith("url: ")


def test_destination_forms() -> None:
    assert destination_problem("https://hooks.example.com:8443/a?b=c#d") is None
    assert destination_problem("http://127.0.0.1:9000/x") is None  # the notify service decides
    assert destination_problem("http://[::1]:9000/x") is None
    assert destination_problem("HTTPS://EXAMPLE.COM/") is None
    assert destination_problem("https://xn--bcher-kva.example/") is None


async def test_a_tenant_has_a_limited_number_of_webhooks(api: Api) -> None:
    for _ in range(MAX_WEBHOOKS_PER_TENANT):
        await register(api)
    response = await api.client.post("/webhooks", params=A, json=HOOK)
    assert response.status_code == 409
    assert response.json()["error"] == "conflict"


async def test_another_tenants_webhooks_are_not_found(api: Api) -> None:
    created = await register(api)
    async with api.as_tenant_b() as client_b:
        listing = await client_b.get("/webhooks", params=A)
        own = await client_b.get("/webhooks", params={"tenantId": TENANT_B})
        creating = await client_b.post("/webhooks", params=A, json=HOOK)
        deleting = await client_b.delete(f"/webhooks/{created['id']}", params=A)
        deleting_own = await client_b.delete(
            f"/webhooks/{created['id']}", params={"tenantId": TENANT_B}
        )
        log = await client_b.get(f"/webhooks/{created['id']}/deliveries", params=A)
    assert listing.status_code == 404
    assert own.json() == {"webhooks": []}
    assert creating.status_code == 404
    assert deleting.status_code == deleting_own.status_code == log.status_code == 404
    assert deleting.json()["detail"] == deleting_own.json()["detail"]
    assert [w["id"] for w in (await api.client.get("/webhooks", params=A)).json()["webhooks"]] == [
        created["id"]
    ]


async def test_a_malformed_webhook_id_is_400(api: Api) -> None:
    response = await api.client.get("/webhooks/not-an-id/deliveries", params=A)
    assert response.status_code == 400
    assert response.json()["detail"] == "webhookId: 'not-an-id' is not a webhook id"


async def test_the_delivery_log_newest_first(api: Api) -> None:
    created = await register(api)
    keys = WebhookKeys(ENV, TENANT_A)
    t0 = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
    for n, state in enumerate(["delivered", "pending"]):
        at = t0 + timedelta(minutes=n)
        delivery = WebhookDelivery(
            id=f"msg_{n}",
            webhook_id=created["id"],
            tenant_id=TENANT_A,
            event_id=f"ev-{n}",
            event_type="job.completed",
            job_id=f"job-{n}",
            body="{}",
            state=state,  # type: ignore[arg-type]
            attempts=[
                DeliveryAttempt(
                    attempt=1,
                    started_at=at,
                    finished_at=at + timedelta(seconds=1),
                    status_code=200 if state == "delivered" else 500,
                    error=None if state == "delivered" else "HTTP 500",
                )
            ],
            created_at=at,
            next_attempt_at=None if state == "delivered" else at + timedelta(seconds=10),
        )
        await api.storage.write_bytes(
            keys.delivery(created["id"], delivery.id), delivery.to_json_bytes()
        )
    response = await api.client.get(f"/webhooks/{created['id']}/deliveries", params=A)
    assert response.status_code == 200
    log = response.json()["deliveries"]
    assert [d["eventId"] for d in log] == ["ev-1", "ev-0"]
    assert log[0]["state"] == "pending"
    assert log[0]["attempts"][0]["statusCode"] == 500
    assert log[0]["attempts"][0]["error"] == "HTTP 500"
    assert log[0]["nextAttemptAt"] is not None
    assert "body" not in log[0]
    limited = await api.client.get(
        f"/webhooks/{created['id']}/deliveries", params={**A, "limit": 1}
    )
    assert [d["eventId"] for d in limited.json()["deliveries"]] == ["ev-1"]

    await api.client.delete(f"/webhooks/{created['id']}", params=A)
    assert await api.storage.list(keys.deliveries(created["id"])) == []


async def test_the_job_list_does_not_see_the_webhooks_folder(api: Api) -> None:
    await register(api)
    jobs = await api.client.get("/jobs", params=A)
    assert jobs.status_code == 200
    assert jobs.json()["jobs"] == []

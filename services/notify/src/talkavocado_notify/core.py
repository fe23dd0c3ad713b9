"""The delivery logic, pure: which webhooks an event goes to, the delivery's stable id and body,
the Standard Webhooks signature, the retry schedule and what an attempt's outcome makes of a
delivery. No I/O and no clock: the shell (service.py) passes `now` and the jitter.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from talkavocado_common.events import JobStatusChanged
from talkavocado_common.models import JobStatus, Manifest
from talkavocado_common.webhooks import (
    DeliveryAttempt,
    Webhook,
    WebhookDelivery,
    WebhookEvent,
    secret_bytes,
)

USER_AGENT = "TalkAvocado-Webhooks/1"
_EVENT_OF_STATUS: dict[JobStatus, WebhookEvent] = {
    JobStatus.COMPLETED: "job.completed",
    JobStatus.FAILED: "job.failed",
    JobStatus.CANCELLED: "job.cancelled",
}


# -- which webhooks, which delivery ------------------------------------------------------------


def event_type(status: JobStatus) -> WebhookEvent | None:
    """The webhook event a job status is (None: not one webhooks are told of)."""
    return _EVENT_OF_STATUS.get(status)


def subscribed(webhooks: Iterable[Webhook], event: WebhookEvent) -> list[Webhook]:
    return [w for w in webhooks if event in w.events]


def occurrence(status: JobStatusChanged) -> str:
    """What makes a status event one happening of the job: the job, its status, the revision,
    the state it ended in and that state's attempt. A duplicate of the event, or the same
    transition emitted again by an orchestrator that crashed before committing it (with a new
    CloudEvents id), has the same occurrence; a later failure after a retry does not."""
    return "/".join(
        (
            status.job_id,
            status.status.value,
            str(status.revision or 1),
            status.state or "-",
            str(status.attempt or 0),
        )
    )


def delivery_id(webhook_id: str, occurrence_key: str) -> str:
    """The `webhook-id` header: stable for one occurrence and one webhook, so the receiver can
    de-duplicate, and unguessable from the outside without the webhook id."""
    digest = hashlib.sha256(f"{webhook_id}\n{occurrence_key}".encode()).hexdigest()
    return f"msg_{digest[:32]}"


# -- the body ---------------------------------------------------------------------------------


def artifact_keys(manifest: Manifest, revision: int | None) -> list[tuple[str, str]]:
    """(kind, storage key) of what the job produced, the edit's outputs of `revision`."""
    found: list[tuple[str, str]] = []
    edit = next((r for r in manifest.revisions if r.revision == revision), None)
    renders = edit.renders if edit is not None else manifest.renders
    subtitles = edit.subtitles if edit is not None else manifest.subtitles
    found += [(f"render.{r.kind}", r.key) for r in renders]
    found += [(f"subtitles.{s.kind}.{s.format}", s.key) for s in subtitles if s.kind == "final"]
    # The timeline exports (timeline-export step), when the manifest lists them.
    exports: list[Any] = getattr(edit if edit is not None else manifest, "exports", [])
    found += [(f"export.{e.format}", e.key) for e in exports]
    timeline = edit.timeline if edit is not None else manifest.plan.timeline
    if timeline is not None:
        found.append(("timeline", timeline))
    if manifest.plan.cut_plan is not None and edit is None:
        found.append(("cutPlan", manifest.plan.cut_plan))
    if manifest.transcript is not None:
        found.append(("transcript", manifest.transcript.json_key))
    if manifest.audio is not None:
        found.append(("audio", manifest.audio.mp3))
    return found


def api_link(api_url: str | None, path: str) -> str:
    return f"{api_url.rstrip('/')}{path}" if api_url else path


def artifact_links(
    manifest: Manifest, revision: int | None, api_url: str | None
) -> list[dict[str, str]]:
    prefix = f"{manifest.env}/{manifest.tenant_id}/{manifest.job_id}/"
    tenant = quote(manifest.tenant_id)
    links = []
    for kind, key in artifact_keys(manifest, revision):
        if not key.startswith(prefix):
            continue
        path = key.removeprefix(prefix)
        url = f"/jobs/{quote(manifest.job_id)}/artifacts/{quote(path)}?tenantId={tenant}"
        links.append({"kind": kind, "path": path, "url": api_link(api_url, url)})
    return links


def job_summary(
    status: JobStatusChanged, manifest: Manifest | None, api_url: str | None
) -> dict[str, Any]:
    """The job as a delivery describes it: the status event, and the manifest's times, input
    and artifacts when it could be read."""
    job = quote(status.job_id)
    summary: dict[str, Any] = {
        "jobId": status.job_id,
        "tenantId": status.tenant_id,
        "status": status.status.value,
        "revision": status.revision,
        "state": status.state,
        "message": status.message,
        "error": status.error.to_jsonable() if status.error is not None else None,
        "url": api_link(api_url, f"/jobs/{job}?tenantId={quote(status.tenant_id)}"),
    }
    if manifest is not None:
        summary["createdAt"] = manifest.created_at.isoformat()
        summary["updatedAt"] = manifest.updated_at.isoformat()
        summary["originalFilename"] = manifest.input.original_filename if manifest.input else None
        summary["artifacts"] = artifact_links(manifest, status.revision, api_url)
    return summary


def delivery_body(
    event: WebhookEvent,
    event_id: str,
    event_time: datetime,
    status: JobStatusChanged,
    manifest: Manifest | None,
    api_url: str | None,
) -> str:
    """The JSON body, in the Standard Webhooks shape `{type, timestamp, data}`."""
    data = {"eventId": event_id, **job_summary(status, manifest, api_url)}
    body = {"type": event, "timestamp": event_time.isoformat(), "data": data}
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False)


# -- signing ----------------------------------------------------------------------------------


def signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """Standard Webhooks: `v1,` + base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}")), the key
    being the base64-decoded part of the `whsec_` secret."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    mac = hmac.new(secret_bytes(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def signed_headers(secret: str, message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(secret, message_id, timestamp, body),
    }


# -- retries ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RetryPolicy:
    base_seconds: float = 10.0
    max_seconds: float = 3600.0
    window_seconds: float = 86400.0


def backoff_seconds(tries: int, policy: RetryPolicy, jitter: float) -> float:
    """The wait after the `tries`-th failed try: base * 2^(tries-1), capped, then "equal
    jitter" — half of it fixed, the other half scaled by `jitter` in [0, 1)."""
    full = min(policy.max_seconds, policy.base_seconds * 2.0 ** min(max(tries - 1, 0), 62))
    return full / 2 + max(0.0, min(jitter, 1.0)) * full / 2


def next_try_at(
    created_at: datetime, tries: int, now: datetime, policy: RetryPolicy, jitter: float
) -> datetime | None:
    """When to try again after `tries` failed tries; None once that would be past the window."""
    at = now + timedelta(seconds=backoff_seconds(tries, policy, jitter))
    return at if at <= created_at + timedelta(seconds=policy.window_seconds) else None


@dataclass(frozen=True)
class AttemptResult:
    started_at: datetime
    finished_at: datetime
    status_code: int | None = None
    error: str | None = None
    refused: bool = False  # the address policy refused the destination: not retried

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def after_attempt(
    delivery: WebhookDelivery, result: AttemptResult, policy: RetryPolicy, jitter: float
) -> WebhookDelivery:
    """The delivery with the attempt recorded: delivered on a 2xx, refused when the address
    policy said no, otherwise pending with its next try, or failed once the window is over."""
    number = delivery.attempts[-1].attempt + 1 if delivery.attempts else 1
    attempt = DeliveryAttempt(
        attempt=number,
        started_at=result.started_at,
        finished_at=result.finished_at,
        status_code=result.status_code,
        error=result.error if not result.ok else None,
    )
    update: dict[str, Any] = {
        "attempts": [*delivery.attempts, attempt],
        "lease_until": None,
        "next_attempt_at": None,
    }
    if result.ok:
        update["state"] = "delivered"
    elif result.refused:
        update["state"] = "refused"
    else:
        at = next_try_at(delivery.created_at, number, result.finished_at, policy, jitter)
        update["state"] = "pending" if at is not None else "failed"
        update["next_attempt_at"] = at
    return delivery.model_copy(update=update)


def due_at(delivery: WebhookDelivery) -> datetime | None:
    """When the delivery may be tried (None: never again). A lease another replica holds
    pushes it back to the lease's end."""
    if delivery.state != "pending":
        return None
    candidates = [t for t in (delivery.next_attempt_at, delivery.lease_until) if t is not None]
    return max(candidates) if candidates else delivery.created_at


def claimable(delivery: WebhookDelivery, now: datetime) -> bool:
    due = due_at(delivery)
    return due is not None and due <= now


def leased(delivery: WebhookDelivery, now: datetime, seconds: float) -> WebhookDelivery:
    return delivery.model_copy(update={"lease_until": now + timedelta(seconds=seconds)})


def abandoned(delivery: WebhookDelivery) -> WebhookDelivery:
    """The webhook was removed while the delivery was pending."""
    return delivery.model_copy(
        update={"state": "abandoned", "next_attempt_at": None, "lease_until": None}
    )

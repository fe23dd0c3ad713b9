"""Which webhooks an event goes to, its stable id and body, the retry schedule, and what an
attempt makes of a delivery."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from talkavocado_common.events import JobStatusChanged
from talkavocado_common.events.models import StepError
from talkavocado_common.models import ErrorCode, JobStatus, Manifest
from talkavocado_common.models.manifest import (
    InputInfo,
    PlanArtifacts,
    RenderArtifact,
    SubtitleArtifact,
)
from talkavocado_common.webhooks import Webhook, WebhookDelivery
from talkavocado_notify.core import (
    AttemptResult,
    RetryPolicy,
    after_attempt,
    backoff_seconds,
    claimable,
    delivery_body,
    delivery_id,
    due_at,
    event_type,
    leased,
    next_try_at,
    occurrence,
    subscribed,
)

T0 = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)


def hook(events: list[str], n: int = 1) -> Webhook:
    return Webhook.model_validate(
        {
            "id": f"wh_{n:024x}",
            "tenantId": "acme",
            "url": "https://example.com/h",
            "events": events,
            "secret": "whsec_" + "A" * 32,
            "createdAt": T0,
        }
    )


def status(s: JobStatus, **extra: object) -> JobStatusChanged:
    values: dict[str, object] = {
        "job_id": "j-1",
        "tenant_id": "acme",
        "env": "test",
        "status": s,
        "progress": 1.0,
        "state": "mark-complete",
        "attempt": None,
    }
    values.update(extra)
    return JobStatusChanged.model_validate(values)


def test_only_terminal_statuses_are_webhook_events() -> None:
    assert event_type(JobStatus.COMPLETED) == "job.completed"
    assert event_type(JobStatus.FAILED) == "job.failed"
    assert event_type(JobStatus.CANCELLED) == "job.cancelled"
    assert event_type(JobStatus.PROCESSING) is None
    assert event_type(JobStatus.PENDING) is None


def test_subscribed_webhooks() -> None:
    a = hook(["job.completed"], 1)
    b = hook(["job.failed", "job.cancelled"], 2)
    c = hook(["job.completed", "job.failed"], 3)
    assert subscribed([a, b, c], "job.completed") == [a, c]
    assert subscribed([a, b, c], "job.cancelled") == [b]
    assert subscribed([], "job.failed") == []


def test_the_delivery_id_is_stable_per_occurrence_and_webhook() -> None:
    done = occurrence(status(JobStatus.COMPLETED))
    assert delivery_id("wh_1", done) == delivery_id("wh_1", done)
    assert delivery_id("wh_1", done) != delivery_id("wh_2", done)
    assert delivery_id("wh_1", done).startswith("msg_")
    # The same end re-emitted is the same occurrence; another end is not.
    assert occurrence(status(JobStatus.COMPLETED, message="again")) == done
    assert occurrence(status(JobStatus.COMPLETED, revision=2)) != done
    failed_once = occurrence(status(JobStatus.FAILED, state="video-cuts", attempt=3))
    failed_after_retry = occurrence(status(JobStatus.FAILED, state="video-cuts", attempt=4))
    assert failed_once != failed_after_retry


def manifest() -> Manifest:
    prefix = "test/acme/j-1/"
    return Manifest(
        job_id="j-1",
        tenant_id="acme",
        env="test",
        status=JobStatus.COMPLETED,
        input=InputInfo(
            key=prefix + "input/talk.mp4",
            original_filename="talk.mp4",
            bytes=10,
            mime_type="video/mp4",
        ),
        plan=PlanArtifacts(cut_plan=prefix + "plan/cut_plan.json"),
        renders=[
            RenderArtifact(
                key=prefix + "renders/final.mp4",
                kind="final",
                duration_sec=1,
                width=2,
                height=2,
                bytes=3,
            )
        ],
        subtitles=[
            SubtitleArtifact(key=prefix + "subtitles/final.srt", format="srt", kind="final"),
            SubtitleArtifact(
                key=prefix + "transcripts/captions.source.srt", format="srt", kind="source"
            ),
        ],
        created_at=T0,
        updated_at=T0 + timedelta(minutes=2),
    )


def test_the_body_has_the_job_summary_and_artifact_links() -> None:
    body = json.loads(
        delivery_body(
            "job.completed",
            "ev-1",
            T0,
            status(JobStatus.COMPLETED),
            manifest(),
            "https://api.example.com/",
        )
    )
    assert body["type"] == "job.completed"
    assert body["timestamp"] == T0.isoformat()
    data = body["data"]
    assert data["eventId"] == "ev-1"
    assert data["jobId"] == "j-1"
    assert data["status"] == "completed"
    assert data["originalFilename"] == "talk.mp4"
    assert data["url"] == "https://api.example.com/jobs/j-1?tenantId=acme"
    links = {a["kind"]: a["url"] for a in data["artifacts"]}
    assert links["render.final"] == (
        "https://api.example.com/jobs/j-1/artifacts/renders/final.mp4?tenantId=acme"
    )
    assert "subtitles.final.srt" in links
    assert "subtitles.source.srt" not in links
    assert links["cutPlan"].endswith("/artifacts/plan/cut_plan.json?tenantId=acme")


def test_a_failure_body_without_a_manifest() -> None:
    error = StepError(code=ErrorCode.INPUT_INVALID, message="not a recording")
    event = status(JobStatus.FAILED, state="audio-extraction", attempt=1, error=error)
    data = json.loads(delivery_body("job.failed", "ev-2", T0, event, None, None))["data"]
    assert data["error"] == {"code": "INPUT_INVALID", "message": "not a recording"}
    assert data["url"] == "/jobs/j-1?tenantId=acme"
    assert "artifacts" not in data


POLICY = RetryPolicy(base_seconds=10, max_seconds=3600, window_seconds=86400)


def test_backoff_doubles_with_equal_jitter_and_a_cap() -> None:
    assert backoff_seconds(1, POLICY, 0.0) == 5
    assert backoff_seconds(1, POLICY, 0.999999) == pytest.approx(10)
    assert backoff_seconds(2, POLICY, 0.5) == 15
    assert backoff_seconds(3, POLICY, 0.0) == 20
    assert backoff_seconds(20, POLICY, 1.0) == 3600
    assert backoff_seconds(10_000, POLICY, 0.0) == 1800  # no overflow
    for tries in range(1, 30):
        full = min(3600, 10 * 2 ** (tries - 1))
        assert full / 2 <= backoff_seconds(tries, POLICY, 0.3) <= full


def test_retries_stop_at_the_window() -> None:
    assert next_try_at(T0, 1, T0, POLICY, 0.0) == T0 + timedelta(seconds=5)
    late = T0 + timedelta(hours=23, minutes=59)
    assert next_try_at(T0, 20, late, POLICY, 0.0) is None
    # Tries spread over the whole day: about 35 of them with these settings.
    now, tries = T0, 0
    while True:
        tries += 1
        at = next_try_at(T0, tries, now, POLICY, 0.5)
        if at is None:
            break
        now = at
    assert 25 <= tries <= 45
    assert now > T0 + timedelta(hours=22)


def pending() -> WebhookDelivery:
    return WebhookDelivery(
        id="msg_1",
        webhook_id="wh_1",
        tenant_id="acme",
        event_id="ev-1",
        event_type="job.completed",
        job_id="j-1",
        body="{}",
        created_at=T0,
        next_attempt_at=T0,
    )


def result(code: int | None, *, at: datetime = T0, refused: bool = False) -> AttemptResult:
    error = None if code is not None and 200 <= code < 300 else "boom"
    return AttemptResult(at, at + timedelta(seconds=1), code, error, refused)


def test_a_2xx_delivers() -> None:
    done = after_attempt(pending(), result(204), POLICY, 0.0)
    assert done.state == "delivered"
    assert done.next_attempt_at is None
    assert [(a.attempt, a.status_code, a.error) for a in done.attempts] == [(1, 204, None)]
    assert due_at(done) is None


def test_a_500_is_retried_with_backoff_and_each_attempt_logged() -> None:
    once = after_attempt(pending(), result(500), POLICY, 0.0)
    assert once.state == "pending"
    assert once.next_attempt_at == T0 + timedelta(seconds=1 + 5)
    twice = after_attempt(once, result(None, at=T0 + timedelta(seconds=6)), POLICY, 0.0)
    assert twice.next_attempt_at == T0 + timedelta(seconds=7 + 10)
    assert [(a.attempt, a.status_code, a.error) for a in twice.attempts] == [
        (1, 500, "boom"),
        (2, None, "boom"),
    ]


def test_a_refused_destination_is_final_and_past_the_window_failed() -> None:
    assert after_attempt(pending(), result(None, refused=True), POLICY, 0.0).state == "refused"
    late = T0 + timedelta(days=1)
    assert after_attempt(pending(), result(503, at=late), POLICY, 0.0).state == "failed"
    assert after_attempt(pending(), result(302), POLICY, 0.0).state == "pending"  # not followed


def test_a_lease_holds_others_off_until_it_runs_out() -> None:
    claim = leased(pending(), T0, 40)
    assert not claimable(claim, T0 + timedelta(seconds=39))
    assert claimable(claim, T0 + timedelta(seconds=40))
    assert claimable(pending(), T0)

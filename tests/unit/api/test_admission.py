"""Admission control: the pure limiters (upload slots, token buckets), then their answers through
the app: 429 with Retry-After and a JSON body, slots given back on every path."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from talkavocado_api.admission import RateLimiter, TokenBucket, UploadSlots, whole_seconds
from talkavocado_api.usecases.common import UPLOAD_STEP
from talkavocado_common.models import JobStatus, StepStatus
from talkavocado_common.storage import LocalStorage

from .support import TENANT_A, TENANT_B, Api, build_api, make_settings, media

# --- upload slots -----------------------------------------------------------------------------


def test_slots_are_bounded_per_process_and_per_tenant() -> None:
    slots = UploadSlots(total=3, per_tenant=2, retry_after=7)
    assert slots.try_acquire("a") is None
    assert slots.try_acquire("a") is None
    refused = slots.try_acquire("a")
    assert refused is not None
    assert "at most 2 uploads per tenant" in refused.reason
    assert refused.retry_after == 7
    assert slots.try_acquire("b") is None
    busy = slots.try_acquire("c")  # the process is full, whoever asks
    assert busy is not None
    assert "busy with 3 uploads" in busy.reason
    assert (slots.in_use(), slots.in_use("a"), slots.in_use("c")) == (3, 2, 0)
    slots.release("a")
    assert slots.try_acquire("c") is None
    assert slots.in_use() == 3


def test_a_refusal_takes_nothing_and_release_gives_back_exactly_one() -> None:
    slots = UploadSlots(total=1, per_tenant=1)
    assert slots.try_acquire("a") is None
    for _ in range(5):
        assert slots.try_acquire("a") is not None
    slots.release("a")
    assert slots.in_use() == 0
    with pytest.raises(RuntimeError, match="holds no upload slot"):
        slots.release("a")


def test_holding_releases_on_error() -> None:
    slots = UploadSlots(total=1, per_tenant=1)
    assert slots.try_acquire("a") is None
    with pytest.raises(ValueError, match="boom"), slots.holding("a"):
        raise ValueError("boom")
    assert slots.in_use() == 0


def test_limits_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        UploadSlots(total=0, per_tenant=1)
    with pytest.raises(ValueError, match="positive rate"):
        RateLimiter(0.0, 1)
    with pytest.raises(ValueError, match="burst of at least 1"):
        RateLimiter(1.0, 0)


@pytest.mark.parametrize(
    ("seconds", "header"), [(0.0, 1), (0.001, 1), (1.0, 1), (1.01, 2), (59.5, 60)]
)
def test_retry_after_is_whole_seconds_at_least_one(seconds: float, header: int) -> None:
    assert whole_seconds(seconds) == header


# --- token buckets ----------------------------------------------------------------------------


def test_a_bucket_allows_its_burst_then_its_rate() -> None:
    bucket = TokenBucket(rate=2.0, burst=3, tokens=3, updated=0.0)
    assert [bucket.take(0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take(0.0) == pytest.approx(0.5)  # one token comes every 0.5 s
    assert bucket.take(0.25) == pytest.approx(0.25)
    assert bucket.take(0.5) == 0.0
    assert bucket.take(100.0) == 0.0  # refilled, but never beyond the burst
    assert bucket.tokens == pytest.approx(2.0)


def test_a_clock_going_backwards_adds_no_tokens() -> None:
    bucket = TokenBucket(rate=1.0, burst=1, tokens=0.0, updated=10.0)
    assert bucket.take(5.0) == pytest.approx(1.0)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_rate_limit_is_per_tenant_and_says_when_to_come_back() -> None:
    clock = Clock()
    limiter = RateLimiter(1 / 6, 2, what="job creations", clock=clock)  # 10 a minute
    assert limiter.check("a") is None
    assert limiter.check("a") is None
    refused = limiter.check("a")
    assert refused is not None
    assert refused.retry_after == 6
    assert refused.reason == (
        "too many job creations: at most 2 at once and 10 per minute; try again in 6 s"
    )
    assert limiter.check("b") is None  # another tenant has its own bucket
    clock.now += 4
    again = limiter.check("a")
    assert again is not None
    assert again.retry_after == 2
    clock.now += 2
    assert limiter.check("a") is None


def test_full_buckets_are_forgotten_when_there_are_many() -> None:
    clock = Clock()
    limiter = RateLimiter(1.0, 1, clock=clock, max_keys=3)
    for tenant in "abc":
        assert limiter.check(tenant) is None
    assert limiter.check("d") is None  # a, b and c are still empty: kept
    assert len(limiter) == 4
    clock.now += 5
    assert limiter.check("e") is None  # all refilled: forgotten, no state lost
    assert len(limiter) == 1


# --- through the app --------------------------------------------------------------------------


async def test_post_jobs_beyond_the_rate_is_429_with_retry_after(tmp_path: Path) -> None:
    built = build_api(tmp_path, make_settings(create_burst=2, create_rate_per_minute=6))
    async with built.client:
        await built.create_job()
        await built.create_job()
        response = await built.client.post(
            "/jobs",
            json={
                "tenantId": TENANT_A,
                "input": {"originalFilename": "t.mp4", "bytes": 10, "mimeType": "video/mp4"},
            },
        )
        assert response.status_code == 429
        assert response.headers["retry-after"] == "10"
        body = response.json()
        assert body["error"] == "too_many_requests"
        assert body["retryAfterSeconds"] == 10
        assert "at most 2 at once and 6 per minute" in body["detail"]
        assert body["correlationId"] == response.headers["x-correlation-id"]
        listed = (await built.client.get("/jobs", params={"tenantId": TENANT_A})).json()
        assert len(listed["jobs"]) == 2  # nothing was created
        async with built.as_tenant_b() as other:
            await built.create_job(client=other, tenant=TENANT_B)


async def test_an_upload_beyond_the_tenants_slots_is_429_before_reading(tmp_path: Path) -> None:
    built = build_api(tmp_path, make_settings(max_concurrent_uploads_per_tenant=1))
    slots = built.use_cases.upload.slots
    async with built.client:
        job = await built.create_job()
        assert slots.try_acquire(TENANT_A) is None  # another upload of tenant A in progress
        read = 0

        async def body() -> AsyncIterator[bytes]:
            nonlocal read
            read += 1
            yield media(1000)

        response = await built.client.put(job["uploadUrl"], content=body())
        assert response.status_code == 429
        assert response.headers["retry-after"] == "10"
        assert response.json()["error"] == "too_many_requests"
        manifest = await built.manifests.get(built.keys(job["jobId"]))
        assert UPLOAD_STEP not in manifest.steps  # not claimed
        slots.release(TENANT_A)
        assert (await built.upload(job, media(1000))).status_code == 202
        assert slots.in_use() == 0


class BrokenStorage(LocalStorage):
    """Fails the manifest write that records a finished upload."""

    fail_complete = True

    async def write_bytes(self, key: str, data: bytes, **kwargs: Any) -> str:
        if self.fail_complete and key.endswith("manifest.json") and b'"succeeded"' in data:
            raise OSError("disk full")
        return await super().write_bytes(key, data, **kwargs)


async def test_every_failed_upload_gives_back_its_slot_and_its_claim(tmp_path: Path) -> None:
    storage = BrokenStorage(tmp_path / "storage")
    built = build_api(tmp_path, storage=storage)
    slots = built.use_cases.upload.slots
    async with built.client:
        job = await built.create_job()
        keys = built.keys(job["jobId"])

        async def dies() -> AsyncIterator[bytes]:
            yield media(1000)[:500]
            raise ConnectionResetError("the client went away")

        # In-process, the body's error reaches the app as the read's error (500 here); over
        # HTTP it is a disconnect (tests/integration/api/test_admission_over_http.py).
        assert (await built.client.put(job["uploadUrl"], content=dies())).status_code == 500
        failures = [await _upload_state(built, keys)]
        assert slots.in_use() == 0

        storage.fail_complete = True  # stored and probed, but not recorded
        assert (await built.upload(job, media(1000))).status_code == 500
        failures.append(await _upload_state(built, keys))
        assert slots.in_use() == 0

        storage.fail_complete = False
        assert (await built.upload(job, media(1000))).status_code == 202
    assert failures == [(StepStatus.FAILED, JobStatus.PENDING)] * 2
    assert slots.in_use() == 0
    assert len(built.publisher.of_type("job.submitted")) == 1


async def test_a_stalled_upload_gives_back_its_slot_and_its_claim(tmp_path: Path) -> None:
    built = build_api(tmp_path, make_settings(upload_idle_timeout_seconds=0.2))
    async with built.client:
        job = await built.create_job()

        async def stalls() -> AsyncIterator[bytes]:
            yield media(1000)[:500]
            await anyio.sleep(30)  # a client that went silent
            yield media(1000)[500:]

        with anyio.fail_after(10):
            response = await built.client.put(job["uploadUrl"], content=stalls())
        assert response.status_code == 400
        assert response.json()["detail"] == (
            "upload stalled: nothing received for 0.2 s; upload again"
        )
        assert await _upload_state(built, built.keys(job["jobId"])) == (
            StepStatus.FAILED,
            JobStatus.PENDING,
        )
        assert built.use_cases.upload.slots.in_use() == 0
        assert (await built.upload(job, media(1000))).status_code == 202


class LandsThenFails(LocalStorage):
    """The claim's manifest write lands, then the caller sees an error (the answer was lost)."""

    failures = 1

    async def write_bytes(self, key: str, data: bytes, **kwargs: Any) -> str:
        etag = await super().write_bytes(key, data, **kwargs)
        if self.failures and key.endswith("manifest.json") and b'"running"' in data:
            self.failures -= 1
            raise OSError("connection reset by peer")
        return etag


async def test_a_claim_whose_write_landed_unseen_is_given_back(tmp_path: Path) -> None:
    built = build_api(tmp_path, storage=LandsThenFails(tmp_path / "storage"))
    async with built.client:
        job = await built.create_job()
        assert (await built.upload(job, media(1000))).status_code == 500
        state = await _upload_state(built, built.keys(job["jobId"]))
        assert state == (StepStatus.FAILED, JobStatus.PENDING)  # not stuck for the claim's TTL
        assert (await built.upload(job, media(1000))).status_code == 202


async def _upload_state(built: Api, keys: Any) -> tuple[StepStatus, JobStatus]:
    manifest = await built.manifests.get(keys)
    return manifest.steps[UPLOAD_STEP].status, manifest.status

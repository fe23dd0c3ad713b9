"""The S3 backend when a write goes wrong half-way, against a real S3 HTTP endpoint (moto's server).

- A conditional PUT whose first attempt landed but whose answer the client never saw: botocore
  retries it, and the retry meets the object it wrote itself (412). The fault is injected in
  botocore's own retry decision (`needs-retry`): the first successful conditional PutObject is
  treated as lost and sent again, exactly as after a reset connection or a read timeout.
- A multipart upload that is cancelled (the request's task torn down) is still aborted.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any, cast

import anyio
import pytest

from talkavocado_api.usecases.common import UPLOAD_STEP
from talkavocado_api.usecases.upload_claim import UploadClaim
from talkavocado_common.manifest_store import ManifestStore
from talkavocado_common.models import (
    InputInfo,
    JobOptions,
    JobStatus,
    LogEntry,
    Manifest,
    StepStatus,
)
from talkavocado_common.storage import JobKeys, PreconditionFailed, open_storage
from talkavocado_common.storage.s3 import MIN_PART_SIZE, S3Options, S3Storage
from tests.support.s3 import S3Server, s3_server  # noqa: F401

KEYS = JobKeys("test", "tenant-a", "0190000000000-0001")
DOC = "test/tenant-a/docs/doc.json"


@pytest.fixture
async def storage(s3_server: S3Server) -> AsyncIterator[S3Storage]:  # noqa: F811
    settings = s3_server.settings(s3_server.create_bucket(), prefix="prod")
    backend = open_storage(settings.storage_url, settings)
    assert isinstance(backend, S3Storage)
    small_parts = S3Storage(
        backend.bucket,
        backend.prefix,
        S3Options(**{**vars(backend.options), "part_size": MIN_PART_SIZE}),
    )
    yield small_parts
    await small_parts.aclose()
    await backend.aclose()


class LostAnswers:
    """Makes botocore send the first `times` successful conditional PutObjects again, as if
    their answers had been lost after the object was stored."""

    def __init__(self, times: int = 1) -> None:
        self.times = times
        self.dropped = 0

    def __call__(self, *, response: Any, request_dict: dict[str, Any], **_: Any) -> int | None:
        headers = request_dict["headers"]
        conditional = "If-Match" in headers or "If-None-Match" in headers
        landed = response is not None and response[0].status_code == 200
        if not (conditional and landed) or self.dropped >= self.times:
            return None  # botocore's own retry handler decides
        self.dropped += 1
        return 0  # "retry after 0 s": the same request again


async def lose_answers(storage: S3Storage, times: int = 1) -> LostAnswers:
    fault = LostAnswers(times)
    client = await storage._client()
    # The stubs say a handler returns None; botocore's retry handlers return the delay.
    client.meta.events.register_first("needs-retry.s3.PutObject", cast(Any, fault))
    return fault


async def test_a_create_whose_retry_meets_its_own_object_succeeds(storage: S3Storage) -> None:
    fault = await lose_answers(storage)
    etag = await storage.write_bytes(DOC, b'{"v": 1}', if_none_match=True)
    assert fault.dropped == 1  # the first attempt landed and was sent again
    assert etag == (await storage.info(DOC)).etag
    assert (await storage.read_bytes(DOC))[0] == b'{"v": 1}'


async def test_a_compare_and_swap_whose_retry_meets_its_own_write_succeeds(
    storage: S3Storage,
) -> None:
    first = await storage.write_bytes(DOC, b'{"v": 1}', if_none_match=True)
    fault = await lose_answers(storage)
    second = await storage.write_bytes(DOC, b'{"v": 2}', if_match=first)
    assert fault.dropped == 1
    assert second != first
    assert (await storage.read_bytes(DOC)) == (b'{"v": 2}', second)


async def test_the_fault_reproduces_the_self_inflicted_412(
    storage: S3Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without the write-id check the injected fault is the reported defect: a 412 against a
    write that landed."""

    async def never_ours(self: S3Storage, key: str, write_id: str) -> None:
        return None

    monkeypatch.setattr(S3Storage, "_written_by", never_ours)
    await lose_answers(storage, times=2)
    with pytest.raises(PreconditionFailed):
        await storage.write_bytes(DOC, b'{"v": 1}', if_none_match=True)
    assert (await storage.read_bytes(DOC))[0] == b'{"v": 1}'  # it had landed
    etag = (await storage.info(DOC)).etag
    with pytest.raises(PreconditionFailed):
        await storage.write_bytes(DOC, b'{"v": 2}', if_match=etag)
    assert (await storage.read_bytes(DOC))[0] == b'{"v": 2}'


async def test_another_writers_object_is_still_a_lost_race(storage: S3Storage) -> None:
    first = await storage.write_bytes(DOC, b'{"v": 1}', if_none_match=True)
    with pytest.raises(PreconditionFailed):
        await storage.write_bytes(DOC, b'{"other": true}', if_none_match=True)
    await storage.write_bytes(DOC, b'{"v": 2}', if_match=first)
    with pytest.raises(PreconditionFailed):  # stale ETag: someone else wrote v2
        await storage.write_bytes(DOC, b'{"v": 3}', if_match=first)
    with pytest.raises(PreconditionFailed):  # If-Match on a missing object
        await storage.write_bytes("test/tenant-a/docs/none.json", b"{}", if_match=first)
    assert (await storage.read_bytes(DOC))[0] == b'{"v": 2}'


def _manifest() -> Manifest:
    return Manifest(
        job_id=KEYS.job_id,
        tenant_id=KEYS.tenant_id,
        env=KEYS.env,
        status=JobStatus.PENDING,
        options=JobOptions(),
        input=InputInfo(
            key=KEYS.input("talk.mp4"),
            original_filename="talk.mp4",
            bytes=10,
            mime_type="video/mp4",
        ),
        created_at="2026-01-01T00:00:00Z",
        updated_at="2026-01-01T00:00:00Z",
    )


async def test_the_manifest_and_the_upload_claim_survive_lost_answers(
    storage: S3Storage,
) -> None:
    """The reported symptoms: a job whose manifest never appears (its create saw 412) and an
    upload claim stuck for the claim's TTL (its own claim read back as someone else's)."""
    manifests = ManifestStore(storage)
    fault = await lose_answers(storage, times=3)
    await manifests.create(KEYS, _manifest())
    assert (await manifests.get(KEYS)).status == JobStatus.PENDING

    def log_once(m: Manifest) -> Manifest:
        entry = LogEntry.model_validate(
            {"time": "2026-01-01T00:00:01Z", "level": "info", "message": "once"}
        )
        return m.model_copy(update={"logs": [*m.logs, entry]})

    updated = await manifests.update(KEYS, log_once)
    assert [e.message for e in updated.logs] == ["once"]
    claim = await UploadClaim.take(manifests, KEYS, timedelta(hours=6))
    assert fault.dropped == 3
    stored = await manifests.get(KEYS)
    assert [e.message for e in stored.logs] == ["once", "upload started (attempt 1)"]
    assert stored.steps[UPLOAD_STEP].status == StepStatus.RUNNING
    assert stored.steps[UPLOAD_STEP].started_at == claim.started


async def test_a_cancelled_multipart_upload_is_aborted(storage: S3Storage) -> None:
    first_part_sent = anyio.Event()

    async def stalls() -> AsyncIterator[bytes]:
        yield b"x" * (MIN_PART_SIZE + 10)  # one whole part: sent before the next chunk is read
        first_part_sent.set()
        await anyio.sleep_forever()
        yield b""  # pragma: no cover

    key = KEYS.input("talk.mp4")
    with anyio.fail_after(20):
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(storage.write_stream, key, stalls())
            await first_part_sent.wait()
            client = await storage._client()
            listed = await client.list_multipart_uploads(Bucket=storage.bucket)
            assert len(listed.get("Uploads", [])) == 1
            tasks.cancel_scope.cancel()  # level-triggered: every later await is cancelled too
    assert not await storage.exists(key)
    listed = await client.list_multipart_uploads(Bucket=storage.bucket)
    assert listed.get("Uploads", []) == []

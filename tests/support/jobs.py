"""Jobs in storage as the orchestrator leaves them before a step runs."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import anyio

from talkavocado_common.manifest_store import ManifestStore
from talkavocado_common.models import InputInfo, JobStatus, Manifest
from talkavocado_common.storage import JobKeys, Storage


async def create_job(
    storage: Storage,
    job_id: str,
    *,
    tenant_id: str = "tenant-a",
    env: str = "test",
    recording: Path | None = None,
    filename: str = "talk.mp4",
) -> JobKeys:
    """A processing job with its manifest; `recording` is uploaded as its input."""
    keys = JobKeys(env, tenant_id, job_id)
    now = datetime.now(UTC)
    input_key = keys.input(filename)
    size = (await anyio.Path(recording).stat()).st_size if recording is not None else 0
    await ManifestStore(storage).create(
        keys,
        Manifest(
            job_id=job_id,
            tenant_id=tenant_id,
            env=env,
            status=JobStatus.PROCESSING,
            input=InputInfo(
                key=input_key, original_filename=filename, bytes=size, mime_type="video/mp4"
            ),
            created_at=now,
            updated_at=now,
        ),
    )
    if recording is not None:
        await storage.upload_from(recording, input_key)
    return keys

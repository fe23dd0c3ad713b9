"""Manifest read / validate / write with compare-and-swap (docs/architecture.md §6).

The orchestrator and a step may write one manifest at once: every update is a read-modify-write
that only lands if the ETag is unchanged, retried on conflict.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime

import anyio
from pydantic import ValidationError

from .manifest_changes import refuses
from .models import JobStatus, Manifest
from .storage import JobKeys, NotFound, PreconditionFailed, Storage


class ManifestConflict(RuntimeError):
    """Gave up after too many concurrent writers won the race."""


class ManifestInvalid(RuntimeError):
    """The stored manifest does not validate against the contract."""


class JobClosed(RuntimeError):
    """A step's change was refused: the job has ended (cancelled, failed or completed), so its
    steps may write nothing more into it."""

    def __init__(self, job_id: str, status: JobStatus, writer: str) -> None:
        super().__init__(f"job {job_id} is {status.value}: {writer}'s change refused")
        self.job_id = job_id
        self.status = status
        self.writer = writer


def utcnow() -> datetime:
    return datetime.now(UTC)


class ManifestStore:
    def __init__(self, storage: Storage, *, max_attempts: int = 20) -> None:
        self.storage = storage
        self.max_attempts = max_attempts

    async def create(self, keys: JobKeys, manifest: Manifest) -> Manifest:
        """Write a new manifest; PreconditionFailed if the job already has one."""
        self._check_identity(keys, manifest)
        await self.storage.write_bytes(keys.manifest, manifest.to_json_bytes(), if_none_match=True)
        return manifest

    async def read(self, keys: JobKeys) -> tuple[Manifest, str]:
        data, etag = await self.storage.read_bytes(keys.manifest)
        try:
            manifest = Manifest.from_json_bytes(data)
        except ValidationError as exc:
            raise ManifestInvalid(f"{keys.manifest}: {exc}") from exc
        self._check_identity(keys, manifest)
        return manifest, etag

    async def get(self, keys: JobKeys) -> Manifest:
        return (await self.read(keys))[0]

    async def exists(self, keys: JobKeys) -> bool:
        try:
            await self.storage.info(keys.manifest)
        except NotFound:
            return False
        return True

    async def update(self, keys: JobKeys, change: Callable[[Manifest], Manifest]) -> Manifest:
        """Apply `change` to the current manifest and write it if nobody wrote in between.

        `change` must be a pure function of the manifest: it runs again after a conflict.
        A step writer's change (its `writer` attribute, manifest_changes.STEP_WRITERS) on a job
        that has ended raises JobClosed: the check and the write are one compare-and-swap, so a
        status written in between makes the write fail and the check run again.
        """
        writer = getattr(change, "writer", None)
        for attempt in range(self.max_attempts):
            current, etag = await self.read(keys)
            if refuses(writer, current.status):
                assert writer is not None
                raise JobClosed(keys.job_id, current.status, writer)
            changed = change(current)
            # Re-validate: model_copy(update=...) does not, and the contract must hold on disk.
            updated = Manifest.model_validate(
                {**changed.model_dump(warnings=False), "updated_at": utcnow()}
            )
            self._check_identity(keys, updated)
            try:
                await self.storage.write_bytes(
                    keys.manifest, updated.to_json_bytes(), if_match=etag
                )
            except PreconditionFailed:
                await anyio.sleep(random.uniform(0, 0.005 * (attempt + 1)))
                continue
            return updated
        raise ManifestConflict(f"{keys.manifest}: {self.max_attempts} conflicting writes in a row")

    @staticmethod
    def _check_identity(keys: JobKeys, manifest: Manifest) -> None:
        if (manifest.env, manifest.tenant_id, manifest.job_id) != (
            keys.env,
            keys.tenant_id,
            keys.job_id,
        ):
            raise ManifestInvalid(f"{keys.manifest}: manifest belongs to another job")

"""A job set up the way the pipeline leaves it before audio-extraction, and generated media."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import anyio
import pytest

from talkavocado_common.manifest_store import ManifestStore
from talkavocado_common.models import InputInfo, JobStatus, Manifest
from talkavocado_common.steps import StepEnv, StepRequest
from talkavocado_common.storage import JobKeys, LocalStorage
from tests.mediagen import DEMO_SCRIPT, Recording, make_recording

# Background at about -45 dBFS under speech peaking near -20 dBFS: a normal noisy room.
NOISY_ROOM = 0.06
# Background at about -33 dBFS: every window is louder than a fixed -35 dBFS threshold.
LOUD_ROOM = 0.25


@dataclass
class Progress:
    reports: list[tuple[float, str]] = field(default_factory=list)

    def __call__(self, fraction: float, message: str = "") -> None:
        self.reports.append((fraction, message))


@dataclass
class Job:
    storage: LocalStorage
    keys: JobKeys
    manifests: ManifestStore
    env: StepEnv
    progress: Progress

    @property
    def request(self) -> StepRequest:
        return StepRequest(step="audio-extraction", keys=self.keys)


Submit = Callable[[Path | None, str], Awaitable[Job]]


@pytest.fixture
def submit(tmp_path: Path) -> Submit:
    """Create the job's manifest and upload `path` as its input (or upload nothing)."""

    async def create(path: Path | None, filename: str = "talk.mp4") -> Job:
        storage = LocalStorage(tmp_path / "storage")
        keys = JobKeys("test", "tenant-a", "job-1")
        manifests = ManifestStore(storage)
        now = datetime.now(UTC)
        input_key = keys.input(filename)
        size = (await anyio.Path(path).stat()).st_size if path is not None else 0
        await manifests.create(
            keys,
            Manifest(
                job_id=keys.job_id,
                tenant_id=keys.tenant_id,
                env=keys.env,
                status=JobStatus.PROCESSING,
                input=InputInfo(
                    key=input_key, original_filename=filename, bytes=size, mime_type="video/mp4"
                ),
                created_at=now,
                updated_at=now,
            ),
        )
        if path is not None:
            await storage.upload_from(path, input_key)
        progress = Progress()
        env = StepEnv(storage, manifests, workdir=tmp_path / "work", progress=progress)
        return Job(storage, keys, manifests, env, progress)

    return create


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("audio-media")


def make_talk(path: Path, noise_amplitude: float = 0.0) -> Recording:
    # sox's repeatable mode fixes its noise seed: the same room noise on every run.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SOX_OPTS", "-R")
        return make_recording(DEMO_SCRIPT, path, noise_amplitude=noise_amplitude)


@pytest.fixture(scope="session")
def clean_talk(media_dir: Path) -> Recording:
    return make_talk(media_dir / "clean.mp4")


@pytest.fixture(scope="session")
def noisy_talk(media_dir: Path) -> Recording:
    return make_talk(media_dir / "noisy.mp4", NOISY_ROOM)


@pytest.fixture(scope="session")
def loud_room_talk(media_dir: Path) -> Recording:
    return make_talk(media_dir / "loud-room.mp4", LOUD_ROOM)

"""Uploads built to make ffmpeg read another file, over real HTTP with the real ffprobe, on disk
and on S3: each is refused with 422 and a sentence saying why, recorded as INPUT_INVALID, never
submitted, and no probe copy is left behind."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from talkavocado_common.models import ErrorCode, JobStatus
from talkavocado_common.storage import JobKeys
from tests.support.hostile_media import (
    CONTENT_KINDS,
    png,
    tiny_recording,
    unconfined_format,
    write_hostile,
)

from .conftest import ENV, TENANT, Server
from .test_api_over_http import create, file_chunks

REFUSED_FORMAT = "playlists, lists of files and image sequences are refused"
# What each refusal says (the first three are refused from their first bytes, before ffprobe).
PHRASES = {
    "hls-absolute": "The file is an HLS (M3U) playlist, which points at other files",
    "hls-http": "The file is an HLS (M3U) playlist, which points at other files",
    "ffconcat": "The file is an ffconcat list of files",
    "concat": "The file is a concat list of files",
    "hls-salted": REFUSED_FORMAT,  # not text: ffprobe's demuxer allowlist refuses it
}


@pytest.fixture(scope="module")
def victim_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_recording(tmp_path_factory.mktemp("victim") / "talk.mp4")


@pytest.fixture
def scratch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The temporary directory the API's probe copies go to, checked empty afterwards."""
    root = tmp_path / "tmp"
    root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(root))
    yield root
    assert list(root.iterdir()) == [], "a probe copy was left behind"


async def assert_refused(server: Server, job_id: str, response_json: dict[str, str]) -> None:
    assert response_json["error"] == "input_invalid"
    manifest = await server.manifests.get(server.keys(job_id))
    assert manifest.status == JobStatus.FAILED
    assert manifest.error is not None
    assert manifest.error.code == ErrorCode.INPUT_INVALID
    assert manifest.error.message == response_json["detail"]
    assert server.publisher.events == [], "a refused upload is never submitted"


async def test_every_hostile_upload_is_refused(
    server: Server, victim_file: Path, tmp_path: Path, scratch: Path
) -> None:
    # One server for all kinds (a server per kind costs seconds on S3).
    for kind in CONTENT_KINDS:
        hostile = write_hostile(tmp_path / kind, kind, victim_file)
        job = await create(server, "talk.mp4", hostile.stat().st_size)
        response = await server.client.put(job["uploadUrl"], content=file_chunks(hostile))
        assert response.status_code == 422, (kind, response.text)
        assert PHRASES[kind] in response.json()["detail"], kind
        await assert_refused(server, job["jobId"], response.json())


async def test_a_playlist_aimed_at_another_tenants_input_is_refused(
    server: Server, victim_file: Path, tmp_path: Path, scratch: Path
) -> None:
    """The realistic attack: with local storage, tenants' inputs sit at guessable paths."""
    victim_key = JobKeys(ENV, "victim-tenant", "job-of-the-victim").input("talk.mp4")
    await server.storage.upload_from(victim_file, victim_key)
    # On disk the playlist names the victim's stored input; on S3 the worker's local copy.
    target = server.storage.local_path(victim_key) or victim_file
    hostile = write_hostile(tmp_path / "upload", "hls-salted", target)
    assert unconfined_format(hostile) == ("hls", ["video", "audio"]), "unconfined, it works"

    job = await create(server, "talk.mp4", hostile.stat().st_size)
    response = await server.client.put(job["uploadUrl"], content=file_chunks(hostile))
    assert response.status_code == 422, response.text
    assert REFUSED_FORMAT in response.json()["detail"]
    await assert_refused(server, job["jobId"], response.json())
    listed = await server.client.get("/jobs", params={"tenantId": TENANT})
    assert listed.status_code == 200
    assert "victim" not in listed.text


async def test_an_image_named_as_a_sequence_is_refused(
    server: Server, tmp_path: Path, scratch: Path
) -> None:
    image = png(tmp_path / "frame.png")
    job = await create(server, "img%03d.png", image.stat().st_size)
    assert "%" not in job["uploadUrl"], "the stored name is never a pattern"
    response = await server.client.put(job["uploadUrl"], content=file_chunks(image))
    assert response.status_code == 422, response.text
    assert REFUSED_FORMAT in response.json()["detail"]
    await assert_refused(server, job["jobId"], response.json())

"""The one key builder: tenant ids, traversal, and staying under the job prefix."""

from __future__ import annotations

import pytest

from talkavocado_common.storage import InvalidKey, JobKeys, validate_tenant_id
from talkavocado_common.storage.keys import build_key, safe_filename, validate_relative_path


@pytest.mark.parametrize("tenant", ["a", "acme", "acme-co", "a_b", "t" * 64, "0tenant9"])
def test_valid_tenant_ids(tenant: str) -> None:
    assert validate_tenant_id(tenant) == tenant


@pytest.mark.parametrize(
    "tenant", ["", "-a", "a-", "A", "acme co", "t" * 65, "../x", "a/b", "a.b", "é", "a\n"]
)
def test_invalid_tenant_ids(tenant: str) -> None:
    with pytest.raises(InvalidKey, match="invalid tenant id"):
        validate_tenant_id(tenant)


@pytest.mark.parametrize(
    "path", ["/etc/passwd", "../other", "a/../../b", "a//b", "./a", "a/.", "", "a\\b", ".hidden/x"]
)
def test_paths_that_escape_or_are_malformed_are_refused(path: str) -> None:
    with pytest.raises(InvalidKey):
        validate_relative_path(path)


def test_job_keys_stay_under_the_job_prefix() -> None:
    keys = JobKeys("prod", "acme", "job-1")
    assert keys.prefix == "prod/acme/job-1/"
    for key in [
        keys.manifest,
        keys.input("My Talk (final).MP4"),
        keys.audio_mp3,
        keys.audio_wav,
        keys.audio_analysis,
        keys.transcript_json,
        keys.source_captions("srt"),
        keys.cut_plan,
        keys.timeline,
        keys.final_subtitles("vtt"),
        keys.final_render,
        keys.preview_render,
    ]:
        assert keys.owns(key), key
    assert keys.audio_mp3 == "prod/acme/job-1/audio/job-1.mp3"
    assert keys.branding_asset("logo.png") == "prod/acme/assets/branding/logo.png"
    with pytest.raises(InvalidKey):
        keys.key("../job-2/manifest.json")
    with pytest.raises(InvalidKey):
        keys.branding_asset("../../other-tenant/assets/branding/logo.png")


@pytest.mark.parametrize(
    ("env", "tenant", "job"), [("prod", "acme", "../x"), ("..", "acme", "j"), ("p", "Acme", "j")]
)
def test_job_keys_validate_on_construction(env: str, tenant: str, job: str) -> None:
    with pytest.raises(InvalidKey):
        JobKeys(env, tenant, job)


def test_client_file_names_become_one_safe_segment() -> None:
    assert safe_filename("../../etc/passwd") == "passwd"
    assert safe_filename("C:\\Users\\me\\talk.mp4") == "talk.mp4"
    assert safe_filename("my talk (1).mp4") == "my_talk_1_.mp4"
    assert safe_filename("...") == "upload"
    assert build_key("prod", "acme", "input", safe_filename("a b.mov")) == "prod/acme/input/a_b.mov"


def test_a_revisions_edit_outputs_are_its_own_and_the_rest_the_jobs() -> None:
    job = JobKeys("prod", "acme", "job-1")
    second = job.for_revision(2)
    assert second.revision == 2
    assert second.cut_plan == "prod/acme/job-1/revisions/2/plan/cut_plan.json"
    assert second.timeline == "prod/acme/job-1/revisions/2/plan/timeline.json"
    assert second.final_subtitles("srt") == "prod/acme/job-1/revisions/2/subtitles/final.srt"
    assert second.final_render == "prod/acme/job-1/revisions/2/renders/final.mp4"
    assert second.preview_render == "prod/acme/job-1/revisions/2/renders/preview.mp4"
    # What the review does not change stays the job's: one manifest, one transcript.
    for name in ("manifest", "audio_wav", "audio_analysis", "transcript_json", "plan_edits"):
        assert getattr(second, name) == getattr(job, name), name
    assert job.plan_edits == "prod/acme/job-1/plan/edits.json"
    assert job.for_revision(None) is job
    assert job.for_revision(1) is job
    assert second.for_revision(None) == job
    assert all(job.owns(k) for k in (second.final_render, second.cut_plan))


@pytest.mark.parametrize("revision", [0, 1, -3, True, 2.5, "2"])
def test_a_revision_is_a_whole_number_from_two(revision: object) -> None:
    with pytest.raises(InvalidKey):
        JobKeys("prod", "acme", "job-1", revision)  # type: ignore[arg-type]

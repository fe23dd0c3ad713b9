"""The segmented full encode: a long render spread over the render workers (core/segments.py
says where to cut and how each piece is made).

    branding-layer (the parent)
      plan.json          written under the job's prefix: renders/segments/<plan>/
      render-segment x n published as sub-steps (StepEnv.substeps), keyed apart, for any
                         render worker; in `avocado process` there is no publisher
      the sound          encoded once, for the whole render, while the pieces are made
      claim loop         every segment nobody holds is claimed and encoded here too; a claim
                         whose lease ran out (its worker died) is taken over
      join               concat demuxer over our own list, stream copy, the sound muxed
      clean-up           everything under renders/segments/<plan>/ removed

A claim is a small object, `seg-<i>.claim`, created only if absent (a conditional write) and
renewed with compare-and-swap every third of its lease; a renewal that fails means another
worker took it over, and the encode stops. A piece is done when `seg-<i>.mp4` exists (uploads
appear whole). One machine therefore gets the same result as N: whoever claims first encodes.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import json
import logging
import time
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import anyio

from talkavocado_common.cpus import effective_cpus
from talkavocado_common.media import FfmpegError, FfmpegTimeout, media_time_limit, run_ffmpeg
from talkavocado_common.models import ErrorCode, JobStatus, RenderOptions, Timeline
from talkavocado_common.steps import StepEnv, StepError, StepRequest
from talkavocado_common.storage import JobKeys, NotFound, PreconditionFailed, Storage

from .audio_feed import AudioFeedError, run_render
from .core.filtergraph import LogoInput, MediaFacts, build_render, fps_of
from .core.loudness import Normalisation
from .core.segments import (
    Claim,
    SegmentError,
    SegmentPlan,
    build_audio,
    build_join,
    bumper_frames,
    check_eligible,
    claim_expired,
    concat_list,
    plan_document,
    plan_id,
    plan_segments,
    renew_interval,
    segment_job,
)
from .segment_settings import SegmentedRenderSettings

log = logging.getLogger(__name__)

SEGMENT_STEP = "render-segment"
_STILL_LOGO_SUFFIXES = (".png", ".jpg", ".jpeg")
# A piece's time limit: a backstop far above a normal encode.
_PIECE_FLOOR_SEC, _PIECE_PER_MEDIA_SEC = 600.0, 6.0
_CLEANUP_SEC = 20.0
# Share of branding-layer's progress the encode takes (as in branding.py).
_ENCODE_START, _ENCODE_SPAN = 0.05, 0.9


class ClaimLost(RuntimeError):
    """Another worker took the segment over (this one's lease had run out)."""


@dataclass(frozen=True)
class RenderInputs:
    """The render's local inputs, gathered the same way by the parent and by each worker."""

    timeline: Timeline
    source: Path
    intro: MediaFacts | None
    outro: MediaFacts | None
    logo: LogoInput | None
    subtitles: Path | None


@dataclass(frozen=True)
class SegmentedRender:
    """What the segmented render did: its sound's ffmpeg log, the duration it should have, its
    segments and how many of them this worker encoded."""

    log: str
    expected_duration: float
    segments: int
    encoded_here: int

    @property
    def reason(self) -> str:
        return (
            f"a long edit: {self.segments} segments encoded in parallel by the render workers "
            f"({self.encoded_here} by the step's own worker), joined by stream copy"
        )


def subtitles_digest(subtitles: Path | None) -> str | None:
    return None if subtitles is None else hashlib.sha256(subtitles.read_bytes()).hexdigest()


def _piece_limit(seconds: float) -> float:
    return media_time_limit(seconds, floor=_PIECE_FLOOR_SEC, per_media_second=_PIECE_PER_MEDIA_SEC)


class SegmentStore:
    """One segmented render's objects under the job's prefix: the plan, the claims, the pieces."""

    def __init__(self, storage: Storage, keys: JobKeys, plan: str) -> None:
        if len(plan) != 16 or any(c not in "0123456789abcdef" for c in plan):
            raise ValueError(f"invalid segment plan id {plan!r}")
        self.storage = storage
        self.plan = plan
        self.folder = keys.key(f"renders/segments/{plan}")
        self.plan_key = f"{self.folder}/plan.json"

    def claim_key(self, index: int) -> str:
        return f"{self.folder}/seg-{index:04d}.claim"

    def piece_key(self, index: int) -> str:
        return f"{self.folder}/seg-{index:04d}.mp4"

    async def write_plan(self, document: dict[str, Any]) -> None:
        await self.storage.write_bytes(self.plan_key, json.dumps(document).encode())

    async def read_plan(self) -> dict[str, Any] | None:
        try:
            data, _ = await self.storage.read_bytes(self.plan_key)
        except NotFound:
            return None
        document: dict[str, Any] = json.loads(data)
        return document

    async def done(self, index: int) -> bool:
        return await self.storage.exists(self.piece_key(index))

    async def claim(self, index: int, owner: str, lease: float) -> str | None:
        """The claim's ETag when `owner` now holds it (created, or taken over after it
        expired); None when a live claim of another worker holds it."""
        key = self.claim_key(index)
        mine = Claim(owner, time.time() + lease).to_bytes()
        try:
            return await self.storage.write_bytes(key, mine, if_none_match=True)
        except PreconditionFailed:
            pass
        try:
            data, etag = await self.storage.read_bytes(key)
        except NotFound:
            return None  # released just now: the next round claims it
        if not claim_expired(Claim.from_bytes(data), time.time()):
            return None
        try:
            taken = await self.storage.write_bytes(key, mine, if_match=etag)
        except PreconditionFailed:
            return None  # another worker took it over first
        log.info("took over segment %d of plan %s: its claim had expired", index, self.plan)
        return taken

    async def keep(self, index: int, owner: str, etag: str, lease: float) -> None:
        """Renew the claim until cancelled; raises ClaimLost once another worker holds it."""
        while True:
            await asyncio.sleep(renew_interval(lease))
            mine = Claim(owner, time.time() + lease).to_bytes()
            try:
                etag = await self.storage.write_bytes(self.claim_key(index), mine, if_match=etag)
            except (PreconditionFailed, NotFound):
                raise ClaimLost(f"segment {index} of plan {self.plan} was taken over") from None

    async def release(self, index: int) -> None:
        with contextlib.suppress(Exception):
            await self.storage.delete(self.claim_key(index))

    async def remove_all(self) -> None:
        """The plan first (a late worker then finds the render over), then the rest."""
        await self.storage.delete(self.plan_key)
        for key in await self.storage.list(self.folder + "/"):
            await self.storage.delete(key)


async def take_and_encode(
    store: SegmentStore,
    index: int,
    owner: str,
    lease: float,
    encode: Callable[[], Coroutine[Any, Any, Path]],
) -> bool:
    """Claim segment `index`, encode it with the claim kept alive, upload it. False when it
    was not ours to do (held by a live worker) or was taken over meanwhile. A failed encode
    releases the claim (another worker may try at once) and raises."""
    etag = await store.claim(index, owner, lease)
    if etag is None:
        return False
    if await store.done(index):
        return False  # finished by a worker whose claim has since run out
    keeper = asyncio.create_task(store.keep(index, owner, etag, lease))
    work = asyncio.create_task(encode())
    try:
        await asyncio.wait({keeper, work}, return_when=asyncio.FIRST_COMPLETED)
        if not work.done():
            work.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await work
            keeper.result()  # ClaimLost
        piece = work.result()
        await store.storage.upload_from(piece, store.piece_key(index))
        return True
    except ClaimLost as lost:
        log.warning("%s", lost)
        return False
    except BaseException:  # failed, or stopped: another worker may take it at once
        with anyio.CancelScope(shield=True), anyio.move_on_after(_CLEANUP_SEC):
            await store.release(index)
        raise
    finally:
        for task in (keeper, work):
            task.cancel()
        for task in (keeper, work):
            with contextlib.suppress(asyncio.CancelledError, ClaimLost):
                await task


async def encode_piece(
    inputs: RenderInputs,
    plan: SegmentPlan,
    index: int,
    options: RenderOptions,
    workdir: Path,
    *,
    threads: int | None,
    on_progress: Callable[[float], None] | None = None,
) -> Path:
    """Segment `index`, video only, encoded as the full render encodes it: its file."""
    job = segment_job(inputs.timeline, plan, index)
    piece = workdir / f"seg-{index:04d}.mp4"
    script = workdir / f"seg-{index:04d}.filtergraph"
    render = build_render(
        job.timeline,
        inputs.source,
        piece,
        options,
        source_has_audio=False,
        intro=inputs.intro if job.segment.intro else None,
        outro=inputs.outro if job.segment.outro else None,
        logo=inputs.logo,
        subtitles=inputs.subtitles,
        filtergraph_script=script,
        threads=threads,
        video_only=True,
        source_seek_sec=job.seek_sec,
        subtitles_offset_frames=job.subtitles_offset_frames,
    )
    script.write_text(render.filtergraph, encoding="utf-8")
    await run_ffmpeg(
        render.args,
        expected_duration=render.expected_duration,
        on_progress=on_progress,
        time_limit=_piece_limit(render.expected_duration),
    )
    return piece


@dataclass(frozen=True)
class SegmentedRequest:
    """The parent's inputs beyond the render inputs."""

    settings: SegmentedRenderSettings
    has_audio: bool
    loudness: Normalisation | None
    threads: int | None
    source_key: str
    source_channels: int | None = None


def segment_plan_for(
    req: StepRequest, inputs: RenderInputs, seg: SegmentedRequest
) -> tuple[SegmentPlan, dict[str, Any]] | str:
    """The segments and plan.json when the render should be split; otherwise why not."""
    settings = seg.settings
    if not settings.enabled:
        return "segmented renders are switched off (RENDER_SEGMENTED)"
    logo_still = inputs.logo is None or inputs.logo.path.suffix.lower() in _STILL_LOGO_SUFFIXES
    why = check_eligible(
        inputs.timeline,
        min_timeline_sec=settings.min_timeline_seconds,
        preview=req.options.render.preview,
        logo_still=logo_still,
    )
    if why is not None:
        return why
    fps = fps_of(inputs.timeline)
    plan = plan_segments(
        inputs.timeline,
        segment_frames=max(1, round(settings.segment_seconds * fps)),
        intro_frames=bumper_frames(inputs.intro, inputs.timeline),
        outro_frames=bumper_frames(inputs.outro, inputs.timeline),
    )
    if len(plan.segments) < 2:
        return "the edit makes only one segment"
    document = plan_document(
        inputs.timeline,
        plan,
        req.options.render,
        {
            "source": seg.source_key,
            "options": req.options.model_dump(mode="json", by_alias=True),
            "subtitlesSha256": subtitles_digest(inputs.subtitles),
        },
    )
    return plan, document


async def _encode_sound(
    inputs: RenderInputs, seg: SegmentedRequest, options: RenderOptions, workdir: Path
) -> tuple[Path, str]:
    sound = workdir / "sound.m4a"
    plan = build_audio(
        inputs.timeline,
        inputs.source,
        sound,
        options,
        source_has_audio=seg.has_audio,
        intro=inputs.intro,
        outro=inputs.outro,
        loudness=seg.loudness,
        threads=seg.threads,
        source_channels=seg.source_channels,
    )
    log_text = await run_render(plan, time_limit=_piece_limit(plan.expected_duration))
    return sound, log_text


async def _claim_all(
    store: SegmentStore,
    count: int,
    encode: Callable[[int], Coroutine[Any, Any, Path]],
    settings: SegmentedRenderSettings,
    on_done: Callable[[int], None],
) -> set[int]:
    """Encode every segment nobody else holds, wait for the others' (taking over expired
    claims); the segments encoded here."""
    owner = uuid.uuid4().hex
    mine: set[int] = set()
    while True:
        pending = [i for i in range(count) if not await store.done(i)]
        on_done(count - len(pending))
        if not pending:
            return mine
        progressed = 0
        for index in pending:
            if await store.done(index):
                continue
            if await take_and_encode(
                store, index, owner, settings.lease_seconds, functools.partial(encode, index)
            ):
                mine.add(index)
                progressed += 1
                on_done(count - len(pending) + progressed)
        if not progressed:
            await asyncio.sleep(settings.poll_seconds)


async def _publish_substeps(
    req: StepRequest, env: StepEnv, store: SegmentStore, count: int
) -> None:
    if env.substeps is None:
        return
    for index in range(count):
        if await store.done(index):
            continue
        await env.substeps(
            SEGMENT_STEP,
            f"segment-{index:04d}",
            {**req.context, "segment": {"plan": store.plan, "index": index}},
        )


async def _join(
    store: SegmentStore,
    plan: SegmentPlan,
    timeline: Timeline,
    sound: Path,
    output: Path,
    local: set[int],
) -> None:
    """Join the pieces (those encoded here are on disk already; the others' downloaded)."""
    work = output.parent / "segments"
    names = []
    for segment in plan.segments:
        name = f"seg-{segment.index:04d}.mp4"
        if segment.index not in local:
            await store.storage.download_to(store.piece_key(segment.index), work / name)
        names.append((name, plan.output_frames(segment)))
    listing = work / "pieces.ffconcat"
    listing.write_text(concat_list(names, fps_of(timeline)), encoding="utf-8")
    seconds = plan.total_frames / float(fps_of(timeline))
    await run_ffmpeg(build_join(listing, sound, output), time_limit=_piece_limit(seconds))


async def _clean_up(env: StepEnv, req: StepRequest, store: SegmentStore, ended: bool) -> None:
    """Remove the render's objects: always once it has ended (joined or failed); when it was
    stopped (superseded, shutting down) only if the job was cancelled — another execution of
    the step may carry on with the pieces."""
    with anyio.CancelScope(shield=True), anyio.move_on_after(_CLEANUP_SEC):
        try:
            if not ended and (await env.manifests.get(req.keys)).status is not JobStatus.CANCELLED:
                return
            await store.remove_all()
        except Exception as exc:  # storage down: the objects stay under the job's prefix
            log.warning("could not remove the segments of job %s: %s", req.keys.job_id, exc)


async def render_segmented(
    req: StepRequest,
    env: StepEnv,
    inputs: RenderInputs,
    seg: SegmentedRequest,
    output: Path,
    on_progress: Callable[[float], None],
) -> SegmentedRender | str:
    """Render to `output` in segments; or, when the render should stay in one piece, why."""
    planned = segment_plan_for(req, inputs, seg)
    if isinstance(planned, str):
        log.info("job %s renders in one piece: %s", req.keys.job_id, planned)
        return planned
    plan, document = planned
    store = SegmentStore(env.storage, req.keys, plan_id(document))
    work = output.parent / "segments"
    work.mkdir(parents=True, exist_ok=True)
    options = req.options.render
    count = len(plan.segments)
    log.info("rendering job %s in %d segments (plan %s)", req.keys.job_id, count, store.plan)
    await store.write_plan(document)
    sound_task = asyncio.create_task(_encode_sound(inputs, seg, options, work))
    ended = False
    try:
        await _publish_substeps(req, env, store, count)

        async def encode(index: int) -> Path:
            return await encode_piece(inputs, plan, index, options, work, threads=seg.threads)

        mine = await _claim_all(
            store, count, encode, seg.settings, lambda done: on_progress(0.9 * done / count)
        )
        sound, sound_log = await sound_task
        await _join(store, plan, inputs.timeline, sound, output, mine)
        on_progress(1.0)
        ended = True
    except Exception:
        ended = True
        raise
    finally:
        sound_task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await sound_task
        await _clean_up(env, req, store, ended)
    expected = float(Fraction(plan.total_frames) / fps_of(inputs.timeline))
    return SegmentedRender(sound_log, expected, count, len(mine))


async def try_segmented(
    req: StepRequest,
    env: StepEnv,
    inputs: RenderInputs,
    *,
    has_audio: bool,
    loudness: Normalisation | None,
    output: Path,
    source_channels: int | None = None,
) -> SegmentedRender | str:
    """branding-layer's segmented full encode (RENDER_SEGMENTED...): the render, or why the
    one-piece encode should run instead (the edit does not qualify, or the segmented render
    failed in a way the one-piece one may not: it is logged and the step carries on)."""
    manifest = await env.manifests.get(req.keys)
    seg = SegmentedRequest(
        settings=SegmentedRenderSettings(),
        has_audio=has_audio,
        loudness=loudness,
        threads=effective_cpus(),
        source_key=manifest.input.key if manifest.input is not None else "",
        source_channels=source_channels,
    )

    def progress(fraction: float) -> None:
        env.progress(_ENCODE_START + _ENCODE_SPAN * fraction, "encoding (segmented)")

    try:
        return await render_segmented(req, env, inputs, seg, output, progress)
    except FfmpegTimeout as exc:
        raise StepError(ErrorCode.TIMEOUT, f"the segmented render: {exc}") from None
    except (FfmpegError, AudioFeedError, SegmentError) as exc:
        log.warning("the segmented render failed, rendering in one piece: %s", exc)
        return f"the segmented render failed: {exc}"[:300]

"""branding-layer: the one full encode of the edit (docs/architecture.md §5).

Imperative shell around core.filtergraph: gathers the timeline, the input, the tenant's branding
assets and the final subtitles as local files, runs the single ffmpeg invocation, uploads
renders/final.mp4 (and renders/preview.mp4 when asked) and records them in the manifest.
"""

from __future__ import annotations

import logging
import re
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from talkavocado_common.artifacts import local_file, read_artifact
from talkavocado_common.cpus import effective_cpus
from talkavocado_common.manifest_changes import RecordRenders
from talkavocado_common.media import (
    LOGO_DEMUXERS,
    RECORDING_DEMUXERS,
    FfmpegError,
    FfmpegNotInstalled,
    FfmpegTimeout,
    FormatRefused,
    MediaInfo,
    ProbeError,
    media_time_limit,
    probe,
)
from talkavocado_common.models import (
    AudioAnalysis,
    ErrorCode,
    RenderArtifact,
    Timeline,
)
from talkavocado_common.steps import StepEnv, StepError, StepRequest, StepResult
from talkavocado_common.storage import InvalidKey, NotFound

from .audio_feed import AudioFeedError, run_render
from .core.audio_edit import sound_channels
from .core.filtergraph import (
    FiltergraphError,
    LogoInput,
    MediaFacts,
    RenderPlan,
    build_render,
    clip_spans,
    fps_of,
    timeline_frames,
)
from .core.loudness import LoudnessDecision, plan_loudness
from .core.mp4 import Mp4Error
from .core.smart import Ineligible, RenderRoute, picture_changes
from .segmented import RenderInputs, try_segmented
from .smart_render import SmartRenderError, plan_for, smart_render

STEP = "branding-layer"
log = logging.getLogger(__name__)
# Share of the step's progress the encode takes; the rest is fetching, probing and uploading.
_ENCODE_START, _ENCODE_SPAN = 0.05, 0.9
# The encode's time limit: a backstop far above a normal render (a few times real time).
_ENCODE_FLOOR_SEC, _ENCODE_PER_MEDIA_SEC = 1800.0, 6.0


async def _probe(path: Path, what: str, demuxers: Sequence[str] = RECORDING_DEMUXERS) -> MediaInfo:
    """`path` probed within the allowlist; INPUT_INVALID when it is not media of those kinds."""
    try:
        info = await probe(path, demuxers=demuxers)
    except FormatRefused:
        raise StepError(
            ErrorCode.INPUT_INVALID,
            f"{what} is not a self-contained media file (a playlist, a list of files or an "
            "image sequence?); only recordings (and, as a logo, PNG or JPEG images) are accepted",
        ) from None
    except ProbeError as exc:
        raise StepError(ErrorCode.INPUT_INVALID, f"{what} is not readable media: {exc}") from None
    if info.video is None:
        raise StepError(ErrorCode.INPUT_INVALID, f"{what} has no video stream")
    return info


async def _asset(req: StepRequest, env: StepEnv, name: str, workdir: Path, slot: str) -> Path:
    try:
        key = req.keys.branding_asset(name)
    except InvalidKey:
        raise StepError(
            ErrorCode.INPUT_INVALID, f"branding asset name {name!r} is not a valid file name"
        ) from None
    suffix = Path(name).suffix
    try:
        return await local_file(env.storage, key, workdir / f"{slot}{suffix}")
    except NotFound:
        raise StepError(
            ErrorCode.INPUT_INVALID, f"branding asset {name!r} not found for this tenant"
        ) from None


async def _bumper(
    req: StepRequest, env: StepEnv, name: str, workdir: Path, slot: str
) -> MediaFacts:
    path = await _asset(req, env, name, workdir, slot)
    info = await _probe(path, f"branding asset {name!r}")
    video = info.video
    assert video is not None  # _probe refuses media without video
    duration = info.duration or video.duration
    if not video.width or not video.height or not duration or duration <= 0:
        raise StepError(
            ErrorCode.INPUT_INVALID, f"branding asset {name!r} has no usable size or duration"
        )
    return MediaFacts(
        path=path,
        width=video.width,
        height=video.height,
        fps=video.frame_rate,
        has_audio=info.audio is not None,
        duration=duration,
    )


def _ffmpeg_failure(exc: FfmpegError) -> StepError:
    # "[Parsed_subtitles_0 @ 0x55d0...] Unable to open ..." -> "Unable to open ...": the
    # addresses are noise, the last lines carry the cause.
    lines = [
        re.sub(r"^\[[^\]]* @ 0x[0-9a-f]+\] ", "", line.strip())
        for line in exc.stderr_tail.splitlines()
        if line.strip()
    ]
    tail = " | ".join(lines[-4:])[-600:]
    return StepError(
        ErrorCode.INTERNAL, f"the final render failed (ffmpeg {exc.returncode}): {tail}"
    )


async def _loudness(req: StepRequest, env: StepEnv, has_audio: bool) -> LoudnessDecision:
    analysis = None
    wanted = req.options.audio.loudness != "off" and has_audio
    # Absent (a job from before the measurement, or the audio step skipped): the decision
    # records why the level was left alone. Present but invalid is an error.
    if wanted and await env.storage.exists(req.keys.audio_analysis):
        analysis = await read_artifact(
            env.storage,
            req.keys.audio_analysis,
            AudioAnalysis,
            what="audio analysis",
            producer="audio-extraction",
        )
    return plan_loudness(req.options.audio, analysis, has_audio=has_audio)


async def _publish(
    env: StepEnv, path: Path, key: str, kind: str, route: RenderRoute | None = None
) -> RenderArtifact:
    info = await _probe(path, f"the {kind} render")
    video = info.video
    assert video is not None
    stored = await env.storage.upload_from(path, key)
    return RenderArtifact.model_validate(
        {
            "key": key,
            "kind": kind,
            "duration_sec": info.duration or 0.0,
            "width": video.width,
            "height": video.height,
            "bytes": stored.size,
            "render_path": route.path if route else None,
            "render_reason": route.reason[:500] if route else None,
        }
    )


async def branding_layer(req: StepRequest, env: StepEnv) -> StepResult:
    env.workdir.mkdir(parents=True, exist_ok=True)
    # A directory of its own: a redelivered request may run next to this one.
    workdir = Path(tempfile.mkdtemp(prefix=f"{STEP}-", dir=env.workdir))
    try:
        return await _branding_layer(req, env, workdir)
    finally:
        # Renders can be large; the uploaded objects are the durable copies.
        shutil.rmtree(workdir, ignore_errors=True)


async def _source(req: StepRequest, env: StepEnv, workdir: Path) -> tuple[Path, MediaInfo]:
    """The job's input recording as a local file, probed."""
    manifest = await env.manifests.get(req.keys)
    if manifest.input is None:
        raise StepError(ErrorCode.INPUT_NOT_FOUND, "the job has no input recording")
    try:
        source = await local_file(
            env.storage, manifest.input.key, workdir / f"source{Path(manifest.input.key).suffix}"
        )
    except NotFound:
        raise StepError(ErrorCode.INPUT_NOT_FOUND, "the input recording is missing") from None
    return source, await _probe(source, "the input recording")


async def _logo(req: StepRequest, env: StepEnv, workdir: Path) -> LogoInput | None:
    options = req.options.branding.logo
    if options is None:
        return None
    path = await _asset(req, env, options.asset, workdir, "logo")
    await _probe(path, f"branding asset {options.asset!r}", LOGO_DEMUXERS)
    return LogoInput(path, options)


async def _subtitles(req: StepRequest, env: StepEnv, workdir: Path) -> Path | None:
    """The final SRT to burn in, or None when not asked or when it holds no cue."""
    if not req.options.subtitles.burn_in:
        return None
    subtitles = workdir / "final.srt"
    try:
        # A plain local name keeps the path simple inside the filtergraph.
        await env.storage.download_to(req.keys.final_subtitles("srt"), subtitles)
    except NotFound:
        raise StepError(
            ErrorCode.INPUT_NOT_FOUND,
            "subtitles/final.srt is missing; burning in subtitles needs subtitles-post-edit",
        ) from None
    if "-->" not in subtitles.read_text(encoding="utf-8", errors="replace"):
        # Nothing was said: no cue to burn, and ffmpeg refuses a subtitle file without one.
        return None
    return subtitles


async def _encode(env: StepEnv, plan: RenderPlan) -> str:
    """Runs the render, reporting its progress; returns ffmpeg's log."""
    env.progress(_ENCODE_START, "encoding")

    def on_progress(fraction: float) -> None:
        env.progress(_ENCODE_START + _ENCODE_SPAN * fraction, "encoding")

    limit = media_time_limit(
        plan.expected_duration, floor=_ENCODE_FLOOR_SEC, per_media_second=_ENCODE_PER_MEDIA_SEC
    )
    try:
        return await run_render(plan, on_progress=on_progress, time_limit=limit)
    except FfmpegTimeout as exc:
        raise StepError(ErrorCode.TIMEOUT, f"the final render: {exc}") from None
    except FfmpegError as exc:
        raise _ffmpeg_failure(exc) from None
    except AudioFeedError as exc:
        raise StepError(ErrorCode.INTERNAL, f"the final render failed: {exc}") from None
    except FfmpegNotInstalled as exc:
        raise StepError(ErrorCode.INTERNAL, str(exc)) from None


async def _publish_renders(
    req: StepRequest, env: StepEnv, output: Path, preview: Path, route: RenderRoute
) -> list[RenderArtifact]:
    """Uploads the final render (and the preview when asked) and records them in the manifest."""
    artifacts = [await _publish(env, output, req.keys.final_render, "final", route)]
    if req.options.render.preview:
        artifacts.append(await _publish(env, preview, req.keys.preview_render, "preview"))
    await env.manifests.update(
        req.keys, RecordRenders(tuple(artifacts), revision=req.keys.revision)
    )
    return artifacts


def _expected_duration(timeline: Timeline) -> float:
    return float(timeline_frames(clip_spans(timeline)) / fps_of(timeline))


async def _smart(
    req: StepRequest,
    env: StepEnv,
    timeline: Timeline,
    source: tuple[Path, MediaInfo],
    effects: str | None,
    audio: tuple[bool, LoudnessDecision, int | None],
    output: Path,
) -> tuple[RenderRoute, str | None]:
    """The smart render when the edit allows it: its route and log; otherwise (or when it
    fails) the route to the full encode with the reason, and no log."""
    path, info = source
    has_audio, loudness, channels = audio
    try:
        plan = await plan_for(timeline, path, effects, info.duration)
    except Ineligible as exc:
        return RenderRoute("full", exc.reason), None
    except FiltergraphError:
        return RenderRoute("full", "the timeline needs the full render's checks"), None
    env.progress(_ENCODE_START, "encoding (smart render)")
    work = output.parent / "smart"
    try:
        render_log = await smart_render(
            plan,
            timeline,
            path,
            output,
            work,
            req.options.render,
            source_has_audio=has_audio,
            source_channels=channels,
            loudness=loudness.normalisation,
            threads=effective_cpus(),
            on_progress=lambda f: env.progress(_ENCODE_START + _ENCODE_SPAN * f, "encoding"),
            time_limit=media_time_limit(
                _expected_duration(timeline),
                floor=_ENCODE_FLOOR_SEC,
                per_media_second=_ENCODE_PER_MEDIA_SEC,
            ),
        )
    except (SmartRenderError, Mp4Error, Ineligible, FfmpegError, FfmpegNotInstalled,
            AudioFeedError) as exc:  # fmt: skip
        # The full encode does not depend on any of it; it reports its own errors.
        log.warning("smart render failed, falling back to the full encode: %s", exc)
        return RenderRoute("full", f"the smart render failed: {exc}"[:500]), None
    finally:
        shutil.rmtree(work, ignore_errors=True)
    copied, encoded = plan.copied_frames, plan.encoded_frames
    reason = (
        f"no pixel changed: copied {copied} frames in whole GOPs, re-encoded {encoded} frames "
        "at the cuts"
    )
    return RenderRoute("smart", reason, copied, encoded), render_log


async def _full(
    req: StepRequest,
    env: StepEnv,
    timeline: Timeline,
    source: Path,
    inputs: tuple[MediaFacts | None, MediaFacts | None, LogoInput | None, Path | None],
    audio: tuple[bool, LoudnessDecision, int | None],
    outputs: tuple[Path, Path],
) -> tuple[str, float]:
    """The one full encode of the edit; its log and the duration it should have."""
    intro, outro, logo, subtitles = inputs
    has_audio, loudness, channels = audio
    output, preview = outputs
    script = output.parent / "render.filtergraph"
    try:
        plan = build_render(
            timeline,
            source,
            output,
            req.options.render,
            source_has_audio=has_audio,
            source_channels=channels,
            intro=intro,
            outro=outro,
            logo=logo,
            subtitles=subtitles,
            preview_output=preview,
            filtergraph_script=script,
            threads=effective_cpus(),
            loudness=loudness.normalisation,
        )
    except FiltergraphError as exc:
        raise StepError(
            ErrorCode.INPUT_INVALID, f"the timeline cannot be rendered: {exc}"
        ) from None
    script.write_text(plan.filtergraph, encoding="utf-8")
    return await _encode(env, plan), plan.expected_duration


async def _branding_layer(req: StepRequest, env: StepEnv, workdir: Path) -> StepResult:
    timeline = await read_artifact(
        env.storage, req.keys.timeline, Timeline, what="edit timeline", producer="video-cuts"
    )
    source, source_info = await _source(req, env, workdir)
    branding = req.options.branding
    intro = await _bumper(req, env, branding.intro, workdir, "intro") if branding.intro else None
    outro = await _bumper(req, env, branding.outro, workdir, "outro") if branding.outro else None
    logo = await _logo(req, env, workdir)
    subtitles = await _subtitles(req, env, workdir)

    has_audio = timeline.has_audio and source_info.audio is not None
    loudness = await _loudness(req, env, has_audio)
    channels = source_info.audio.channels if source_info.audio is not None else None
    sound = (has_audio, loudness, channels)
    output, preview = workdir / "final.mp4", workdir / "preview.mp4"
    effects = picture_changes(
        timeline,
        logo=logo is not None,
        subtitles=subtitles is not None,
        intro=intro is not None,
        outro=outro is not None,
        preview=req.options.render.preview,
    )
    route, render_log = await _smart(
        req, env, timeline, (source, source_info), effects, sound, output
    )
    if render_log is None:  # the full encode: split over the render workers when it is long
        segmented = await try_segmented(
            req,
            env,
            RenderInputs(timeline, source, intro, outro, logo, subtitles),
            has_audio=has_audio,
            source_channels=channels,
            loudness=loudness.normalisation,
            output=output,
        )
        if not isinstance(segmented, str):  # else: why it stays in one piece (logged)
            route = RenderRoute("segmented", segmented.reason)
            render_log, expected = segmented.log, segmented.expected_duration
    if render_log is None:
        render_log, expected = await _full(
            req,
            env,
            timeline,
            source,
            (intro, outro, logo, subtitles),
            sound,
            (output, preview),
        )
    elif route.path == "smart":
        expected = _expected_duration(timeline)

    env.progress(_ENCODE_START + _ENCODE_SPAN, "uploading")
    artifacts = await _publish_renders(req, env, output, preview, route)
    env.progress(1.0, "done")
    final = artifacts[0]
    return {
        "render": final.key,
        "durationSec": final.duration_sec,
        "expectedDurationSec": expected,
        "width": final.width,
        "height": final.height,
        "bytes": final.bytes,
        "preview": artifacts[1].key if len(artifacts) > 1 else None,
        "loudness": loudness.report(
            sound_channels(channels, bumpers=intro is not None or outro is not None)
        ),
        "renderPath": route.path,
        "renderReason": route.reason,
    }

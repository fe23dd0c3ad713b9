"""render-segment: one segment of a segmented render, taken by any render worker (a sub-step of
branding-layer, topology.SUBSTEPS; segmented.py has the protocol).

Its input is the parent's with `segment: {plan, index}`. It reads the plan the parent wrote
under the job's prefix; when the plan is gone the render is over (joined, or failed) and there
is nothing to do. It claims the segment like the parent does (a held claim: nothing to do),
gathers the same inputs the parent did, encodes the piece and uploads it. It writes nothing
outside renders/segments/<plan>/ and records nothing in the manifest; a cancelled job stops it
(the worker's watch) and the step runner removes what it wrote.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from talkavocado_common.cpus import effective_cpus
from talkavocado_common.models import ErrorCode
from talkavocado_common.steps import StepEnv, StepError, StepRequest, StepResult

from .branding import _bumper, _logo, _source, _subtitles
from .core.segments import SegmentError, plan_from_document
from .segment_settings import SegmentedRenderSettings
from .segmented import (
    RenderInputs,
    SegmentStore,
    encode_piece,
    subtitles_digest,
    take_and_encode,
)

STEP = "render-segment"


def _spec(context: Mapping[str, Any]) -> tuple[str, int]:
    raw = context.get("segment")
    if not isinstance(raw, dict):
        raise StepError(ErrorCode.INPUT_INVALID, "render-segment needs segment: {plan, index}")
    plan, index = raw.get("plan"), raw.get("index")
    if not isinstance(plan, str) or not isinstance(index, int) or isinstance(index, bool):
        raise StepError(ErrorCode.INPUT_INVALID, "render-segment needs segment: {plan, index}")
    return plan, index


async def _inputs(
    req: StepRequest, env: StepEnv, document: dict[str, Any], workdir: Path
) -> RenderInputs:
    """The render's inputs, gathered as branding-layer gathered them."""
    timeline, _ = plan_from_document(document)
    source, _info = await _source(req, env, workdir)
    branding = req.options.branding
    intro = await _bumper(req, env, branding.intro, workdir, "intro") if branding.intro else None
    outro = await _bumper(req, env, branding.outro, workdir, "outro") if branding.outro else None
    logo = await _logo(req, env, workdir)
    subtitles = await _subtitles(req, env, workdir)
    if subtitles_digest(subtitles) != document["inputs"].get("subtitlesSha256"):
        raise SegmentError("the subtitles changed since the render was planned")
    return RenderInputs(timeline, source, intro, outro, logo, subtitles)


async def render_segment(req: StepRequest, env: StepEnv) -> StepResult:
    plan_name, index = _spec(req.context)
    try:
        store = SegmentStore(env.storage, req.keys, plan_name)
    except ValueError as exc:
        raise StepError(ErrorCode.INPUT_INVALID, str(exc)) from None
    result: dict[str, Any] = {"plan": plan_name, "segment": index}
    document = await store.read_plan()
    if document is None:
        return {**result, "encoded": False, "why": "the render is over"}
    if await store.done(index):
        return {**result, "encoded": False, "why": "already encoded"}
    _, plan = plan_from_document(document)
    if not 0 <= index < len(plan.segments):
        raise StepError(ErrorCode.INPUT_INVALID, f"the render has no segment {index}")
    settings = SegmentedRenderSettings()
    env.workdir.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix=f"{STEP}-", dir=env.workdir))

    async def encode() -> Path:
        inputs = await _inputs(req, env, document, workdir)
        return await encode_piece(
            inputs,
            plan,
            index,
            req.options.render,
            workdir,
            threads=effective_cpus(),
            on_progress=lambda f: env.progress(f, "encoding"),
        )

    try:
        encoded = await take_and_encode(
            store, index, uuid.uuid4().hex, settings.lease_seconds, encode
        )
    except SegmentError as exc:
        await store.release(index)
        return {**result, "encoded": False, "why": str(exc)}
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if encoded and await store.read_plan() is None:
        # The render ended while this piece was made (another worker did it too): nothing may
        # be left under the job's prefix.
        await env.storage.delete(store.piece_key(index))
        await store.release(index)
        return {**result, "encoded": False, "why": "the render is over"}
    return {**result, "encoded": encoded, "why": None if encoded else "another worker has it"}

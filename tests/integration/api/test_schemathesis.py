"""The OpenAPI document against the running API: schemathesis (every check, the examples,
coverage, fuzzing and stateful phases) over real HTTP must find nothing.

What this holds the API to: a request the document calls valid is accepted (2xx, or the
404/403/409/429 that depend on state, not shape); a request it calls invalid is refused with a
4xx; every answer's status, content type, headers and body are declared; a 405 names every
method of its path; a job that was created can be read. Upload bodies are bytes the schema
cannot judge against the job's declared size or as a recording, so there a 400 or 413 (not the
size declared at creation) and a 422 (not a recording) count as answers to valid requests too;
so do a 422 for a webhook URL whose host or port cannot be used, and a 409 once the tenant has
as many webhooks as it may.

Bounded: a fixed seed, `MAX_EXAMPLES` per operation and a 40 s budget (about 45 s in all).
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import anyio
import pytest

from talkavocado_api import ApiSettings, InMemoryPublisher, InMemoryStatusFeed, create_app
from talkavocado_common.settings import StorageSettings
from talkavocado_common.storage import open_storage
from tests.support.http import serve_on_loopback

from .conftest import ENV, KEY, TENANT

pytestmark = pytest.mark.slow

MAX_EXAMPLES = 20
TIME_BUDGET_SECONDS = 40
SEED = 20261202

CONFIG = f"""
seed = {SEED}
max-time = {TIME_BUDGET_SECONDS}
request-timeout = 10
continue-on-failure = true

[generation]
max-examples = {MAX_EXAMPLES}

[checks]
enabled = true

[phases.stateful]
max-steps = 6

[headers]
Authorization = "Bearer {KEY}"

[[operations]]
include-operation-id = "uploadJobInput"
checks.positive_data_acceptance.expected-statuses = [
  "2xx", "400", "401", "403", "404", "409", "413", "422", "429"
]

# A webhook URL the schema accepts may still name no usable host or port (422), and a tenant
# has at most 20 webhooks (409).
[[operations]]
include-operation-id = "createWebhook"
checks.positive_data_acceptance.expected-statuses = ["2xx", "401", "403", "404", "409", "422", "429"]

# Server-Sent Events of a live job end only when the job does: schemathesis may read a few
# events, then it must stop (stateful links never lead here; see openapi.py).
[[operations]]
include-operation-id = "streamJobEvents"
max-stream-events = 1
"""


def schemathesis() -> str:
    return str(Path(sys.executable).with_name("schemathesis"))


async def test_the_running_api_keeps_its_openapi_contract(tmp_path: Path) -> None:
    storage_settings = StorageSettings(STORAGE_URL=str(tmp_path / "storage"), TALKAVOCADO_ENV=ENV)
    storage = open_storage(storage_settings.storage_url, storage_settings)
    settings = ApiSettings(
        keys=f"{TENANT}:{KEY}",
        storage=storage_settings,
        sse_keepalive_seconds=0.5,
        MAX_UPLOAD_BYTES=50_000_000,
        # The fuzzer's volume, not a client's: admission limits would only answer 429.
        create_rate_per_minute=1_000_000,
        create_burst=100_000,
        # Its authentication checks send a wrong key once per operation: more than the ten a
        # client may send per minute, after which every request would be a 429.
        auth_failure_limit=1_000_000,
    )
    app = create_app(
        settings, storage=storage, publisher=InMemoryPublisher(), status_feed=InMemoryStatusFeed()
    )
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG)
    async with serve_on_loopback(app) as url:
        process = await asyncio.create_subprocess_exec(
            schemathesis(),
            "--no-color",
            "--config-file",
            str(config),
            "run",
            f"{url}/openapi.json",
            cwd=tmp_path,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        with anyio.fail_after(TIME_BUDGET_SECONDS + 60):
            output, _ = await process.communicate()
    await storage.aclose()
    report = output.decode(errors="replace")
    assert process.returncode == 0, report[-12_000:]
    for phase in ("Examples", "Coverage", "Fuzzing", "Stateful"):  # each ran and passed
        assert f"✅ {phase}" in report, report[-4000:]
    assert "Failures:" not in report, report[-4000:]

"""`avocado up` says the stack is up only once every service's /readyz has answered 200, and
says who it is still waiting for meanwhile (over real HTTP, against small local servers)."""

from __future__ import annotations

import asyncio
import io
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from talkavocado_cli.supervisor import ServiceSpec
from talkavocado_cli.up import readyz, wait_ready


class Readiness(ThreadingHTTPServer):
    ready = False


class Handler(BaseHTTPRequestHandler):
    server: Readiness

    def do_GET(self) -> None:
        self.send_response(200 if self.server.ready and self.path == "/readyz" else 503)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def servers() -> Iterator[tuple[Readiness, Readiness]]:
    pair = (Readiness(("127.0.0.1", 0), Handler), Readiness(("127.0.0.1", 0), Handler))
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in pair]
    for thread in threads:
        thread.start()
    try:
        yield pair
    finally:
        for server in pair:
            server.shutdown()
            server.server_close()


def specs(api: Readiness, orchestrator: Readiness) -> list[ServiceSpec]:
    return [
        ServiceSpec("api", ["true"], ready_url=readyz(api.server_address[1])),
        ServiceSpec("orchestrator", ["true"], ready_url=readyz(orchestrator.server_address[1])),
        ServiceSpec("no-probe", ["true"]),
    ]


def test_waits_for_every_service_and_names_the_late_ones(
    servers: tuple[Readiness, Readiness],
) -> None:
    api, orchestrator = servers
    api.ready = True
    output = io.StringIO()

    async def scenario() -> bool:
        waiting = asyncio.create_task(
            wait_ready(specs(api, orchestrator), lambda: False, output, remind_every=0.5)
        )
        await asyncio.sleep(1.2)
        assert not waiting.done(), "said ready while the orchestrator answered 503"
        orchestrator.ready = True
        return await asyncio.wait_for(waiting, 10)

    assert asyncio.run(scenario()) is True
    reminders = output.getvalue().splitlines()
    assert reminders, "no word on who was still not ready"
    assert all(line.endswith("still waiting for orchestrator to be ready") for line in reminders)


def test_gives_up_when_the_stack_stops(servers: tuple[Readiness, Readiness]) -> None:
    api, orchestrator = servers
    stopping = threading.Event()
    threading.Timer(0.5, stopping.set).start()
    ready = asyncio.run(wait_ready(specs(api, orchestrator), stopping.is_set, io.StringIO()))
    assert ready is False

"""The process supervisor of `avocado up`, with small real child processes."""

from __future__ import annotations

import asyncio
import io
import os
import signal
import sys
import time
from collections.abc import Callable

from talkavocado_cli.supervisor import ServiceSpec, Supervisor

PY = sys.executable


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def wait_for(predicate: Callable[[], bool]) -> None:
    async with asyncio.timeout(10):
        while not predicate():  # noqa: ASYNC110 - polls state outside asyncio (processes)
            await asyncio.sleep(0.05)


async def test_prefixes_output_restarts_the_dead_and_stops_all() -> None:
    output = io.StringIO()
    supervisor = Supervisor(
        [
            ServiceSpec(
                "steady", [PY, "-c", "print('hello', flush=True); import time; time.sleep(60)"]
            ),
            ServiceSpec("flaky", [PY, "-c", "print('bye'); raise SystemExit(3)"]),
        ],
        output=output,
        grace_seconds=5,
        max_backoff=0.5,
    )
    runner = asyncio.create_task(supervisor.run())
    await wait_for(lambda: "steady | hello" in output.getvalue())
    await wait_for(lambda: supervisor.restarts("flaky") >= 2)
    assert "flaky  | exited with 3; restarting" in output.getvalue()

    first = supervisor.pid("steady")
    assert first is not None
    os.kill(first, signal.SIGKILL)
    await wait_for(lambda: supervisor.pid("steady") not in (None, first))
    second = supervisor.pid("steady")
    assert second is not None
    assert supervisor.restarts("steady") == 1

    supervisor.stop()
    await asyncio.wait_for(runner, 10)
    assert not alive(second)


async def test_a_child_that_ignores_sigterm_is_killed_after_the_grace_period() -> None:
    stubborn = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('up', flush=True); time.sleep(60)"
    output = io.StringIO()
    supervisor = Supervisor(
        [ServiceSpec("stubborn", [PY, "-c", stubborn])], output=output, grace_seconds=0.5
    )
    runner = asyncio.create_task(supervisor.run())
    await wait_for(lambda: "stubborn | up" in output.getvalue())
    pid = supervisor.pid("stubborn")
    assert pid is not None
    began = time.monotonic()
    supervisor.stop()
    await asyncio.wait_for(runner, 10)
    assert not alive(pid)
    assert 0.4 < time.monotonic() - began < 5


async def test_sigterm_goes_to_the_service_and_its_leftovers_are_killed_with_its_group() -> None:
    # The service forwards nothing: its child (think: a step's ffmpeg) keeps running through
    # the service's own graceful stop, and is killed with the group once the service has exited.
    service = (
        "import signal, subprocess, sys, time\n"
        "child = subprocess.Popen(['sleep', '60'])\n"
        "signal.signal(signal.SIGTERM, lambda *_: print('term', child.poll(), flush=True) or sys.exit(0))\n"
        "print('child', child.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    output = io.StringIO()
    supervisor = Supervisor([ServiceSpec("svc", [PY, "-c", service])], output=output)
    runner = asyncio.create_task(supervisor.run())
    await wait_for(lambda: "svc | child" in output.getvalue())
    child = int(output.getvalue().split("svc | child ", 1)[1].split()[0])
    supervisor.stop()
    await asyncio.wait_for(runner, 10)
    assert "svc | term None" in output.getvalue()  # the child was alive when the service stopped
    await wait_for(lambda: not alive(child))


async def test_services_get_the_lifeline_and_it_closes_when_the_supervisor_stops() -> None:
    reader = (
        "import os\n"
        "fd = int(os.environ['TALKAVOCADO_LIFELINE_FD'])\n"
        "print('holding', fd, flush=True)\n"
        "print('eof', os.read(fd, 1) == b'', flush=True)\n"
    )
    output = io.StringIO()
    supervisor = Supervisor([ServiceSpec("svc", [PY, "-c", reader])], output=output)
    runner = asyncio.create_task(supervisor.run())
    await wait_for(lambda: "svc | holding" in output.getvalue())
    assert "svc | eof" not in output.getvalue()
    supervisor.stop()  # SIGTERM kills the reader (no handler); the pipe is closed after
    await asyncio.wait_for(runner, 10)

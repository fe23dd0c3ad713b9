"""The lifeline: the services of a supervisor that is SIGKILLed stop by themselves (a graceful
one at once, a stuck one and its children after the lifeline's grace), and a stop that hangs is
ended by its deadline."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

PY = sys.executable

# A service: watches its lifeline; `stuck` ignores SIGTERM and has a child in its process group.
SERVICE = """
import signal, subprocess, sys, time
from talkavocado_common.lifeline import watch_lifeline
stuck = sys.argv[1] == "stuck"
if stuck:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    child = subprocess.Popen(["sleep", "60"])
    print(f"child {child.pid}", flush=True)
print("watching" if watch_lifeline(sys.argv[1], grace=1.0) else "no lifeline", flush=True)
time.sleep(60)
"""

# `avocado up` in small: a Supervisor of two services, printing what it prints.
SUPERVISOR = """
import asyncio, sys
from talkavocado_cli.supervisor import ServiceSpec, Supervisor
service = sys.argv[1]
specs = [ServiceSpec(n, [sys.executable, "-c", service, n]) for n in ("graceful", "stuck")]
asyncio.run(Supervisor(specs, output=sys.stdout).run())
"""


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead too (reaped later by whoever inherited it).
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] == "Z")


def wait_gone(pids: list[int], within: float) -> float:
    began = time.monotonic()
    while any(alive(p) for p in pids):
        assert time.monotonic() - began < within, f"still alive: {[p for p in pids if alive(p)]}"
        time.sleep(0.05)
    return time.monotonic() - began


def read_until(process: subprocess.Popen[str], wanted: list[str], within: float = 20) -> list[str]:
    assert process.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + within
    while not all(any(w in line for line in lines) for w in wanted):
        assert time.monotonic() < deadline, lines
        line = process.stdout.readline()
        assert line, lines
        lines.append(line.rstrip())
    return lines


def test_the_services_of_a_killed_supervisor_stop_by_themselves() -> None:
    supervisor = subprocess.Popen(
        [PY, "-c", SUPERVISOR, SERVICE],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        lines = read_until(supervisor, ["graceful | watching", "stuck    | watching", "child"])
        pids = {
            line.split()[0]: int(line.rsplit("pid ", 1)[1].rstrip(")"))
            for line in lines
            if "started (pid" in line
        }
        (grandchild,) = [int(line.rsplit(" ", 1)[1]) for line in lines if "| child " in line]
        os.kill(supervisor.pid, signal.SIGKILL)
        supervisor.wait()
        # The graceful one obeys the SIGTERM the lifeline sends; the stuck one and its child are
        # killed with their process group when the lifeline's grace (1 s here) is over.
        assert wait_gone([pids["graceful"]], within=2) < 1.5
        assert wait_gone([pids["stuck"], grandchild], within=4) >= 0.9
    finally:
        for pid in (supervisor.pid,):
            if alive(pid):
                os.killpg(pid, signal.SIGKILL)
        if supervisor.stdout is not None:
            supervisor.stdout.close()


def test_without_the_variable_a_process_has_no_lifeline() -> None:
    env = {k: v for k, v in os.environ.items() if k != "TALKAVOCADO_LIFELINE_FD"}
    out = subprocess.run(
        [PY, "-c", SERVICE.replace("time.sleep(60)", ""), "graceful"],
        capture_output=True,
        text=True,
        env=env,
        timeout=20,
        check=True,
    )
    assert out.stdout.strip() == "no lifeline"


def test_a_stop_that_hangs_is_ended_by_its_deadline() -> None:
    stuck = textwrap.dedent(
        """
        import logging, time
        from talkavocado_common.lifeline import StopDeadline
        logging.basicConfig(format="%(message)s")
        deadline = StopDeadline("svc", 0.5)
        assert deadline.arm("SIGTERM") and not deadline.arm("SIGTERM")
        time.sleep(30)  # a shutdown waiting on a broker that is gone
        """
    )
    began = time.monotonic()
    out = subprocess.run([PY, "-c", stuck], capture_output=True, text=True, timeout=20)
    assert out.returncode == 70
    assert 0.4 < time.monotonic() - began < 5
    assert out.stderr.strip().splitlines() == [
        "svc did not stop within 0.5 s of SIGTERM: exiting now (code 70)"
    ]


def test_a_disarmed_deadline_does_not_fire() -> None:
    from talkavocado_common.lifeline import StopDeadline

    deadline = StopDeadline("svc", 0.2)
    assert deadline.arm("test")
    deadline.cancel()
    time.sleep(0.4)
    assert not deadline.armed


def test_a_lifeline_variable_is_taken_out_of_the_environment_and_checked() -> None:
    from talkavocado_common.lifeline import LIFELINE_FD_ENV, watch_lifeline

    read_end, write_end = os.pipe()
    os.close(read_end)  # names no open descriptor any more
    os.close(write_end)
    for value in ("not-a-number", str(read_end)):
        environ = {LIFELINE_FD_ENV: value, "OTHER": "1"}
        assert watch_lifeline("svc", environ=environ) is None
        assert environ == {"OTHER": "1"}  # our own children must not inherit it

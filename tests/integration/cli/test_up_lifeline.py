"""`avocado up` killed as the OOM killer or a closed terminal would (SIGKILL of its process
group): its services and its broker, each in a session of its own, go with it within seconds,
and a new `avocado up` on the same port and storage becomes ready."""

from __future__ import annotations

import os
import secrets
import signal
import time
from pathlib import Path

import pytest

from talkavocado_cli.stack_process import StackProcess
from talkavocado_common.kafka import free_port

pytestmark = pytest.mark.slow

KEY = secrets.token_urlsafe(24)
SERVICES = ("api", "orchestrator", "audio", "transcribe", "render", "notify")


def children_of(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat[stat.rindex(")") + 2 :].split()[1]) == pid:
                found.append(int(entry))
    return found


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2 :].split()[0] != "Z"


def test_a_killed_avocado_up_takes_its_services_along_and_frees_its_port(tmp_path: Path) -> None:
    port = free_port()

    def stack(log: str) -> StackProcess:
        return StackProcess(
            port=port,
            storage=tmp_path / "storage",
            dev_key=KEY,
            cwd=tmp_path,
            log=tmp_path / log,
            own_group=True,
        )

    first = stack("first.log").start()
    try:
        services = {name: first.pid_of(name) for name in SERVICES}
        children = children_of(first.pid)
        assert set(services.values()) <= set(children)
        (broker,) = set(children) - set(services.values())  # the embedded Tansu
        first.kill_group(signal.SIGKILL)
        began = time.monotonic()
        while left := [p for p in (*services.values(), broker) if alive(p)]:
            assert time.monotonic() - began < 10, f"still running after 10 s: {left}"
            time.sleep(0.1)
        print(f"all gone {time.monotonic() - began:.1f} s after the SIGKILL")
    finally:
        first.stop()
    second = stack("second.log").start()
    assert second.stop() == 0, "\n".join(second.lines[-20:])

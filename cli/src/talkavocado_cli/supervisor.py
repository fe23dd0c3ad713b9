"""Runs the stack's services as separate OS processes: output prefixed by service, a process
that dies is restarted (with backoff), and a stop signal stops them all — TERM first, KILL after
a grace period.

Each service runs in a session of its own (a Ctrl-C in the terminal reaches it only through the
supervisor) and holds the read end of the supervisor's lifeline pipe
(`talkavocado_common.lifeline`): when the supervisor dies, however it dies, the services see the
pipe close and stop too. TERM goes to the service process; KILL, after the grace period, to its
whole process group (its ffmpeg children), and a service's group is swept when it exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TextIO

from talkavocado_common.lifeline import LIFELINE_FD_ENV


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    argv: Sequence[str]
    env: Mapping[str, str] = field(default_factory=dict)
    # Answers 200 once the service can do its work (`avocado up` waits for every one).
    ready_url: str | None = None


@dataclass
class _Running:
    spec: ServiceSpec
    process: asyncio.subprocess.Process | None = None
    restarts: int = 0
    started_at: float = 0.0


class Supervisor:
    def __init__(
        self,
        services: Sequence[ServiceSpec],
        *,
        output: TextIO | None = None,
        grace_seconds: float = 10.0,
        max_backoff: float = 10.0,
    ) -> None:
        self._services = [_Running(spec) for spec in services]
        self._output = output or sys.stderr
        self._grace = grace_seconds
        self._max_backoff = max_backoff
        self._stopping = asyncio.Event()
        self._width = max((len(s.name) for s in services), default=0)
        self._lifeline: tuple[int, int] | None = None  # (read end: the children's, write end)

    def restarts(self, name: str) -> int:
        return next(r.restarts for r in self._services if r.spec.name == name)

    def pid(self, name: str) -> int | None:
        running = next(r for r in self._services if r.spec.name == name)
        return (
            running.process.pid if running.process and running.process.returncode is None else None
        )

    def log(self, name: str, line: str) -> None:
        self._output.write(f"{name:<{self._width}} | {line}\n")
        self._output.flush()

    async def _pump(self, name: str, stream: asyncio.StreamReader) -> None:
        async for raw in stream:
            self.log(name, raw.decode(errors="replace").rstrip())

    async def _start(self, running: _Running) -> None:
        spec = running.spec
        env = {**os.environ, **spec.env, "PYTHONUNBUFFERED": "1"}
        pass_fds: tuple[int, ...] = ()
        if self._lifeline is not None:
            env[LIFELINE_FD_ENV] = str(self._lifeline[0])
            pass_fds = (self._lifeline[0],)
        running.process = await asyncio.create_subprocess_exec(
            *spec.argv,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,  # our stop signal reaches children only through us
            pass_fds=pass_fds,
        )
        running.started_at = time.monotonic()
        self.log(spec.name, f"started (pid {running.process.pid})")

    async def _watch(self, running: _Running) -> None:
        backoff = 0.5
        while not self._stopping.is_set():
            await self._start(running)
            process = running.process
            assert process is not None
            assert process.stdout is not None
            pump = asyncio.create_task(self._pump(running.spec.name, process.stdout))
            code = await _exit_of(process)
            _kill_group(process.pid)  # what it leaves behind (a step's ffmpeg)
            await process.wait()
            await pump
            if self._stopping.is_set():
                return
            lived = time.monotonic() - running.started_at
            backoff = 0.5 if lived > 30 else min(self._max_backoff, backoff * 2)
            running.restarts += 1
            self.log(running.spec.name, f"exited with {code}; restarting in {backoff:.1f} s")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), backoff)

    async def run(self) -> None:
        """Run until stop() is called, then stop every service."""
        # Non-inheritable (PEP 446): only the services get the read end, through pass_fds, and
        # no process but this one ever holds the write end.
        self._lifeline = os.pipe()
        try:
            watchers = [asyncio.create_task(self._watch(r)) for r in self._services]
            await self._stopping.wait()
            await self._terminate_all()
            for watcher in watchers:
                watcher.cancel()
            await asyncio.gather(*watchers, return_exceptions=True)
        finally:
            lifeline, self._lifeline = self._lifeline, None
            for fd in lifeline:  # a service still alive now stops by itself
                os.close(fd)

    def stop(self) -> None:
        self._stopping.set()

    def stopping(self) -> bool:
        return self._stopping.is_set()

    async def _terminate_all(self) -> None:
        alive = [r.process for r in self._services if r.process and r.process.returncode is None]
        for process in alive:
            # The service only: it decides what happens to its children (a step's ffmpeg may
            # finish within the service's own grace period).
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*(_exit_of(p) for p in alive)), self._grace)
        for process in alive:
            _kill_group(process.pid)  # still running after the grace period, or left behind
        await asyncio.gather(*(p.wait() for p in alive))


async def _exit_of(process: asyncio.subprocess.Process) -> int:
    """The exit status once the process has exited. (`wait()` also waits for its output pipe
    to close, which a child it left behind may hold open.)"""
    while process.returncode is None:  # noqa: ASYNC110 - set by the child watcher
        await asyncio.sleep(0.1)
    return process.returncode


def _kill_group(pgid: int) -> None:
    """SIGKILL a service's process group (its pid: the service leads a session of its own)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)

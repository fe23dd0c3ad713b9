"""Runs the stack's services as separate OS processes: output prefixed by service, a process
that dies is restarted (with backoff), and a stop signal stops them all — TERM first, KILL after
a grace period."""

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


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    argv: Sequence[str]
    env: Mapping[str, str] = field(default_factory=dict)


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
        running.process = await asyncio.create_subprocess_exec(
            *spec.argv,
            env={**os.environ, **spec.env, "PYTHONUNBUFFERED": "1"},
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,  # our stop signal reaches children only through us
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
            code = await process.wait()
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
        watchers = [asyncio.create_task(self._watch(r)) for r in self._services]
        await self._stopping.wait()
        await self._terminate_all()
        for watcher in watchers:
            watcher.cancel()
        await asyncio.gather(*watchers, return_exceptions=True)

    def stop(self) -> None:
        self._stopping.set()

    def stopping(self) -> bool:
        return self._stopping.is_set()

    async def _terminate_all(self) -> None:
        alive = [r.process for r in self._services if r.process and r.process.returncode is None]
        for process in alive:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(asyncio.gather(*(p.wait() for p in alive)), self._grace)
        except TimeoutError:
            for process in alive:
                if process.returncode is None:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(process.pid, signal.SIGKILL)
            await asyncio.gather(*(p.wait() for p in alive))

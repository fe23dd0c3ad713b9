"""`avocado up` as a child process, for `make demo`, the benchmarks and the end-to-end tests:
started, awaited until the API is ready, its output kept (and optionally logged), stopped."""

from __future__ import annotations

import functools
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Self, TextIO

from talkavocado_common.lifeline import die_with_parent

READY_LINE = "the stack is up"


class StackProcess:
    def __init__(
        self,
        *,
        port: int,
        storage: Path,
        dev_key: str,
        cwd: Path,
        log: Path | None = None,
        storage_url: str | None = None,
        env: Mapping[str, str] | None = None,
        own_group: bool = False,
    ) -> None:
        """`storage_url` (e.g. s3://bucket/prefix, with its AWS_* variables in `env`) replaces
        the local `storage` directory. `own_group`: `avocado up` runs in a process group of its
        own, which `kill_group()` can kill as a closed terminal would (it is then out of reach of
        a Ctrl-C in the terminal: it gets SIGTERM when the thread that started it exits)."""
        self.url = f"http://127.0.0.1:{port}"
        self.storage = storage
        self.dev_key = dev_key
        self._argv = [
            str(Path(sys.executable).with_name("avocado")),
            "up",
            "--port",
            str(port),
            "--storage",
            storage_url or str(storage),
            f"--dev-key={dev_key}",  # one form whatever the key starts with
        ]
        self._cwd = cwd
        self._env = dict(env or {})
        self._own_group = own_group
        self._log_path = log
        self.lines: list[str] = []
        self._ready = threading.Event()
        self._process: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None

    def start(self, within: float = 120) -> Self:
        # The stack brings its own broker: an inherited KAFKA_* would point it elsewhere (the
        # fetch wait, a knob of the consumers rather than of the broker, is passed on).
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("KAFKA_", "PYTEST")) or k == "KAFKA_FETCH_MAX_WAIT_MS"
        }
        env.update(self._env)
        self._process = subprocess.Popen(
            self._argv,
            cwd=self._cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            process_group=0 if self._own_group else None,
            preexec_fn=functools.partial(die_with_parent, parent=os.getpid())
            if self._own_group
            else None,
        )
        self._reader = threading.Thread(target=self._pump, daemon=True)
        self._reader.start()
        deadline = time.monotonic() + within
        while not self._ready.wait(0.2):
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("avocado up did not start:\n" + "\n".join(self.lines[-40:]))
        return self

    def _pump(self) -> None:
        assert self._process is not None
        assert self._process.stdout is not None
        log: TextIO | None = self._log_path.open("w") if self._log_path else None
        try:
            for raw in self._process.stdout:
                line = raw.rstrip()
                self.lines.append(line)
                if log is not None:
                    log.write(raw)
                    log.flush()
                if READY_LINE in line:
                    self._ready.set()
        finally:
            if log is not None:
                log.close()

    def alive(self) -> bool:
        """`avocado up` is still running."""
        return self._process is not None and self._process.poll() is None

    def pid_of(self, service: str) -> int:
        """The pid of a service's current process (from the supervisor's 'started' lines)."""
        pattern = re.compile(rf"{re.escape(service)}\s+\| started \(pid (\d+)\)")
        found = [m.group(1) for line in list(self.lines) if (m := pattern.match(line))]
        if not found:
            raise LookupError(f"{service} never started")
        return int(found[-1])

    @property
    def pid(self) -> int:
        """The pid of `avocado up` itself (the supervisor)."""
        if self._process is None:
            raise LookupError("not started")
        return self._process.pid

    def kill_group(self, sig: signal.Signals = signal.SIGKILL) -> int:
        """Send `sig` to `avocado up`'s process group, as the OOM killer or a closed terminal
        would (own_group=True only); wait for `avocado up` itself and return its status. The
        services, in sessions of their own, are not in the group: the lifeline stops them."""
        process = self._process
        if process is None or not self._own_group:
            raise RuntimeError("kill_group needs a started StackProcess with own_group=True")
        if process.poll() is None:
            os.killpg(process.pid, sig)
        return process.wait(30)

    def stop(self, timeout: float = 60) -> int:
        """SIGTERM, wait (KILL after `timeout`); the exit status."""
        process = self._process
        if process is None:
            return 0
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._reader is not None:
            self._reader.join(10)
        if process.stdout is not None:
            process.stdout.close()
        return process.returncode

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

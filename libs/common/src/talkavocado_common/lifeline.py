"""A service process dies with its supervisor, and stops in time when told to.

**The lifeline.** A supervisor (`avocado up`) hands each service the read end of a pipe whose
write end only the supervisor holds, and names the descriptor in $TALKAVOCADO_LIFELINE_FD. When
the supervisor dies, however it dies (SIGKILL, the OOM killer, a closed terminal's group kill),
the kernel closes the write end and a read of the pipe returns end-of-file. `watch_lifeline`
waits for that in a daemon thread, then logs one line, sends this process SIGTERM (its ordinary
graceful stop) and arms a short hard deadline after which the process and everything in its
process group (its ffmpeg children) are killed. It needs no cooperation from the event loop, works
from any thread of the supervisor and on any POSIX system. A process started without the
variable has no lifeline.

**The stop deadline.** A graceful stop can wait on something that is gone: faust's shutdown waits
on the broker, a Kafka producer flushes into the void, `asyncio.run` joins a worker thread still
in a handler. `StopDeadline(service, seconds).arm(...)`, called by a service as it starts to stop,
exits the process `seconds` later with one log line unless it has exited by then.

`die_with_parent` is the Linux-only counterpart for a child that runs no Python (the embedded
broker): a `preexec_fn` asking the kernel to signal the child when the thread that spawned it
exits.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import sys
import threading
from collections.abc import MutableMapping

log = logging.getLogger(__name__)

LIFELINE_FD_ENV = "TALKAVOCADO_LIFELINE_FD"
LIFELINE_GRACE_SECONDS = 5.0  # from the supervisor's death to SIGKILL of a process still alive
EXIT_DEADLINE = 70  # EX_SOFTWARE: the graceful stop did not finish within its deadline

_PR_SET_PDEATHSIG = 1


def _flush_logs() -> None:
    for handler in logging.getLogger().handlers:
        with contextlib.suppress(Exception):
            handler.flush()


def exit_now(code: int, *, kill_group: bool = False) -> None:  # pragma: no cover - ends the process
    """Flush the logs and exit, skipping every other cleanup (threads are not joined). With
    `kill_group`, a process that leads its own session (a supervised service: it was started
    with a session of its own) takes its group with it."""
    _flush_logs()
    if kill_group and os.getsid(0) == os.getpid():
        with contextlib.suppress(OSError):
            os.killpg(os.getpid(), signal.SIGKILL)
    os._exit(code)


class StopDeadline:
    """Exit the process `seconds` after the first `arm()` if it is still running by then."""

    def __init__(
        self,
        service: str,
        seconds: float,
        *,
        exit_code: int = EXIT_DEADLINE,
        kill_group: bool = False,
    ) -> None:
        self.service = service
        self.seconds = seconds
        self.exit_code = exit_code
        self.kill_group = kill_group
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None

    @property
    def armed(self) -> bool:
        return self._timer is not None

    def arm(self, why: str) -> bool:
        """Start the clock (`why`: what began the stop, for the log line). True the first time;
        later calls change nothing."""
        with self._lock:
            if self._timer is not None:
                return False
            timer = threading.Timer(self.seconds, self._expire, args=(why,))
            timer.name = f"{self.service} stop deadline"
            timer.daemon = True
            self._timer = timer
        timer.start()
        return True

    def cancel(self) -> None:
        """Disarm (a stop that finished; tests)."""
        with self._lock:
            timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()

    def _expire(self, why: str) -> None:  # pragma: no cover - ends the process
        log.error(
            "%s did not stop within %g s of %s: exiting now (code %d)",
            self.service,
            self.seconds,
            why,
            self.exit_code,
        )
        exit_now(self.exit_code, kill_group=self.kill_group)


def _lifeline_fd(environ: MutableMapping[str, str]) -> int | None:
    """The descriptor named by the environment (taken out of it: our own children must not
    mistake some other descriptor of theirs for it), or None."""
    raw = environ.pop(LIFELINE_FD_ENV, None)
    if not raw:
        return None
    try:
        fd = int(raw)
        os.fstat(fd)
    except (ValueError, OSError):
        log.warning("ignoring %s=%r: not an open file descriptor", LIFELINE_FD_ENV, raw)
        return None
    os.set_inheritable(fd, False)
    return fd


def _wait_for_eof(fd: int) -> None:
    while True:
        try:
            if not os.read(fd, 64):
                return
        except OSError:
            return


def watch_lifeline(
    service: str,
    *,
    grace: float = LIFELINE_GRACE_SECONDS,
    environ: MutableMapping[str, str] | None = None,
) -> threading.Thread | None:
    """If the environment names a lifeline, watch it from a daemon thread: when the supervisor
    is gone, SIGTERM this process and kill its group `grace` seconds later if it is still alive.
    Returns the thread (None: no lifeline). Call it once, early in the entry point."""
    fd = _lifeline_fd(os.environ if environ is None else environ)
    if fd is None:
        return None
    deadline = StopDeadline(service, grace, kill_group=True)

    def watch() -> None:
        _wait_for_eof(fd)
        with contextlib.suppress(OSError):
            os.close(fd)
        log.warning("%s: the supervisor is gone (its lifeline closed): stopping", service)
        deadline.arm("the supervisor's death")
        os.kill(os.getpid(), signal.SIGTERM)

    thread = threading.Thread(target=watch, name=f"{service} lifeline", daemon=True)
    thread.start()
    return thread


def die_with_parent(
    sig: signal.Signals = signal.SIGTERM, parent: int | None = None
) -> None:  # pragma: no cover - runs in a child between fork and exec
    """A `preexec_fn`: have Linux send `sig` to the child when the thread that forked it exits
    (start it from the main thread). `parent`: the forking process's pid, to catch a parent that
    died before the request was made. Does nothing elsewhere than on Linux."""
    if sys.platform != "linux":
        return
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(sig))
    if parent is not None and os.getppid() != parent:
        os.kill(os.getpid(), sig)

"""moto's S3 server with writes to one key made atomic, as S3 makes them.

moto_server serves each request on its own thread, and its put_object checks `If-Match` /
`If-None-Match` and then stores the object in a second step without a lock
(moto/s3/responses.py). Two conditional writes carrying the same ETag can therefore both pass
the check, and one update is lost, which S3 and MinIO never allow. The manifest's optimistic
concurrency relies on those conditional writes, so the tests would fail now and then for a
reason that is moto's. Here every write (PUT, POST, DELETE) to one path runs alone; reads and
writes to other keys still run in parallel.

`python -m tests.support.moto_s3_server HOST PORT`: serves until killed (as `moto_server -H -p`).
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Iterable
from typing import Any

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import run_simple

WRITES = frozenset({"PUT", "POST", "DELETE"})

Wsgi = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class KeyWriteLocks:
    """WSGI middleware: one lock per request path for the writing methods."""

    def __init__(self, app: Wsgi) -> None:
        self._app = app
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def _lock_for(self, path: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(path, threading.Lock())

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        if environ.get("REQUEST_METHOD") not in WRITES:
            return list(self._app(environ, start_response))
        with self._lock_for(str(environ.get("PATH_INFO", ""))):
            # The whole answer is made inside the lock: moto stores while building it.
            return list(self._app(environ, start_response))


def main(host: str, port: int) -> None:
    os.environ.setdefault("MOTO_PORT", str(port))  # as moto_server sets it
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(
        host,
        port,
        KeyWriteLocks(app),
        threaded=True,
        request_handler=MotoRequestHandler,
    )


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))

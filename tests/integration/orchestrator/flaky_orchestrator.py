"""`python -m tests.integration.orchestrator.flaky_orchestrator`: the real orchestrator process
(talkavocado_orchestrator.__main__), its storage wrapped so that writing a manifest fails with
OSError (storage down, disk full), before the write lands: the first FLAKY_MANIFEST_FAILURES
times for each status written, and every time while the file FLAKY_DOWN_FILE exists."""

from __future__ import annotations

import json
import os
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import talkavocado_orchestrator.app as orchestrator_app
from talkavocado_common.storage import Storage, open_storage
from talkavocado_orchestrator.__main__ import main


class FlakyManifestWrites:
    """Delegates to `inner`, except that manifest writes fail `failures` times per status."""

    def __init__(self, inner: Storage, failures: int, down: Path | None) -> None:
        self._inner = inner
        self._failures = failures
        self._down = down
        self._attempts: Counter[str] = Counter()

    async def write_bytes(self, key: str, data: bytes, **kwargs: Any) -> Any:
        if key.endswith("manifest.json"):
            status = str(json.loads(data).get("status"))
            self._attempts[status] += 1
            if self._attempts[status] <= self._failures:
                raise OSError(28, f"No space left on device (injected, {status})")
            if self._down is not None and self._down.exists():
                raise OSError(5, f"Input/output error (injected while {self._down} exists)")
        return await self._inner.write_bytes(key, data, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def flaky_storage(location: str | Path, settings: Any = None) -> Any:
    down = os.environ.get("FLAKY_DOWN_FILE")
    return FlakyManifestWrites(
        open_storage(location, settings),
        int(os.environ.get("FLAKY_MANIFEST_FAILURES", "0")),
        Path(down) if down else None,
    )


if __name__ == "__main__":
    orchestrator_app.open_storage = flaky_storage  # type: ignore[assignment]
    sys.exit(main())

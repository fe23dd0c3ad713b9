"""Markers by location: tests/unit → unit, tests/integration → integration, tests/e2e → e2e."""

from __future__ import annotations

import os

import pytest

from talkavocado_common.kafka.broker import PORT_RANGE_ENV

# Each pytest-xdist worker (gw0, gw1, ...) and the stacks it starts draw ports from a range of
# their own, below the kernel's ephemeral ports (32768-60999): a port one worker picked for a
# server is never picked by another before that server binds it.
_WORKER = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0) % 4
os.environ[PORT_RANGE_ENV] = f"{20000 + 3000 * _WORKER}-{20000 + 3000 * _WORKER + 2999}"

_BY_DIR = {"unit": pytest.mark.unit, "integration": pytest.mark.integration, "e2e": pytest.mark.e2e}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        parts = item.path.parts
        for name, marker in _BY_DIR.items():
            if "tests" in parts and name in parts:
                item.add_marker(marker)

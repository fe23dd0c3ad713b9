"""Markers by location: tests/unit → unit, tests/integration → integration, tests/e2e → e2e."""

from __future__ import annotations

import os

import pytest

from talkavocado_common.kafka.broker import FETCH_MAX_WAIT_ENV, PORT_RANGE_ENV

# Each pytest-xdist worker (gw0, gw1, ...) and the stacks it starts draw ports from a range of
# their own, below the kernel's ephemeral ports (32768-60999): a port one worker picked for a
# server is never picked by another before that server binds it.
_WORKER = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0) % 4
os.environ[PORT_RANGE_ENV] = f"{20000 + 3000 * _WORKER}-{20000 + 3000 * _WORKER + 2999}"

# The stacks and brokers of the suite poll every 250 ms, not every 20 ms as `avocado up` does
# for quick hops: at 20 ms an idle stack costs a third of a core (0.07 at 250 ms), and the suite
# runs several stacks and brokers at once on two cores.
os.environ.setdefault(FETCH_MAX_WAIT_ENV, "250")

_BY_DIR = {"unit": pytest.mark.unit, "integration": pytest.mark.integration, "e2e": pytest.mark.e2e}
_RANK = {"e2e": 0, "integration": 1, "unit": 2}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        parts = item.path.parts
        for name, marker in _BY_DIR.items():
            if "tests" in parts and name in parts:
                item.add_marker(marker)
    # The longest modules first: pytest-xdist (`--dist loadfile --no-loadscope-reorder`, as
    # `make test` runs it) hands modules out in this order, so the slow ones start early and
    # the quick ones fill the gaps, rather than a slow one starting last and running alone.
    slow = {item.path for item in items if item.get_closest_marker("slow")}

    def cost_rank(item: pytest.Item) -> tuple[bool, int]:
        kind = next((name for name in _RANK if name in item.path.parts), "unit")
        return item.path not in slow, _RANK[kind]

    items.sort(key=cost_rank)

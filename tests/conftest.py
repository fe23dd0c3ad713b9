"""Markers by location: tests/unit → unit, tests/integration → integration, tests/e2e → e2e."""

from __future__ import annotations

import pytest

_BY_DIR = {"unit": pytest.mark.unit, "integration": pytest.mark.integration, "e2e": pytest.mark.e2e}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        parts = item.path.parts
        for name, marker in _BY_DIR.items():
            if "tests" in parts and name in parts:
                item.add_marker(marker)

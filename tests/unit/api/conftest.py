"""Fixtures of the API unit tests (see support.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from .support import Api, build_api


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    built = build_api(tmp_path)
    async with built.client:
        yield built

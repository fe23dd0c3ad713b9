"""TalkAvocado REST API: `create_app(settings, storage=..., publisher=..., status_feed=...)`."""

from __future__ import annotations

__version__ = "0.1.0"

from .app import create_app
from .ports import (
    EventPublisher,
    InMemoryPublisher,
    InMemoryStatusFeed,
    ReadinessCheck,
    StatusFeed,
    storage_check,
    tcp_check,
)
from .settings import ApiSettings

__all__ = [
    "ApiSettings",
    "EventPublisher",
    "InMemoryPublisher",
    "InMemoryStatusFeed",
    "ReadinessCheck",
    "StatusFeed",
    "create_app",
    "storage_check",
    "tcp_check",
]

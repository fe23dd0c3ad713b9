"""The step-service runtime: StepWorker runs step handlers from a Kafka consumer group."""

from .core import build_step_request, heartbeat_interval, next_beat, seconds_left
from .http import MetricsServer
from .main import ConfigError, load_config, main
from .metrics import WorkerMetrics
from .runtime import StepWorker, WorkerCrashed
from .settings import WorkerSettings

__all__ = [
    "ConfigError",
    "MetricsServer",
    "StepWorker",
    "WorkerCrashed",
    "WorkerMetrics",
    "WorkerSettings",
    "build_step_request",
    "heartbeat_interval",
    "load_config",
    "main",
    "next_beat",
    "seconds_left",
]

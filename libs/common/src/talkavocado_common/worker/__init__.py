"""The step-service runtime: StepWorker runs step handlers from a Kafka consumer group."""

from ..config import ConfigError
from .core import build_step_request, heartbeat_interval, next_beat, seconds_left
from .http import MetricsServer
from .main import load_config, main
from .metrics import WorkerMetrics
from .runtime import StepWorker, WorkerCrashed
from .settings import StepServiceSettings, WorkerSettings

__all__ = [
    "ConfigError",
    "MetricsServer",
    "StepServiceSettings",
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

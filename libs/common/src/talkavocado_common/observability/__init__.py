"""Logs, traces and metrics shared by every service (settings from LOG_LEVEL, LOG_FORMAT,
OTEL_TRACES_EXPORTER, OTEL_EXPORTER_OTLP_ENDPOINT)."""

from typing import TextIO

from .context import LogContext, bind, get_log_context, log_context
from .logging import JsonFormatter, TextFormatter, configure_logging
from .metrics import CONSUMER_LAG, LagReporter, consumer_lag_gauge, refresh_lag
from .settings import ObservabilitySettings
from .tracing import (
    TracingConfigError,
    configure_tracing,
    context_from_traceparent,
    current_ids,
    current_traceparent,
    extract_headers,
    get_tracer,
    inject_headers,
    start_span,
)

__all__ = [
    "CONSUMER_LAG",
    "JsonFormatter",
    "LagReporter",
    "LogContext",
    "ObservabilitySettings",
    "TextFormatter",
    "TracingConfigError",
    "bind",
    "configure_logging",
    "configure_observability",
    "configure_tracing",
    "consumer_lag_gauge",
    "context_from_traceparent",
    "current_ids",
    "current_traceparent",
    "extract_headers",
    "get_log_context",
    "get_tracer",
    "inject_headers",
    "log_context",
    "refresh_lag",
    "start_span",
]


def configure_observability(
    service: str, settings: ObservabilitySettings | None = None, stream: TextIO | None = None
) -> None:
    """`configure_tracing` (raises TracingConfigError first, before anything is changed), then
    `configure_logging`: the one call a service's entry point makes at start-up."""
    settings = settings or ObservabilitySettings()
    configure_tracing(service, settings)
    configure_logging(service, settings, stream)

"""Logging and tracing settings of every service process (environment variables).

Each service's settings class holds one of these as `observability`; `configure_logging` and
`configure_tracing` take it.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

LogFormat = Literal["json", "text"]
TracesExporter = Literal["none", "console", "otlp"]


class ObservabilitySettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    log_level: str = Field(
        "INFO",
        alias="LOG_LEVEL",
        description="Root log level: DEBUG, INFO, WARNING, ERROR or CRITICAL (any case).",
    )
    log_format: LogFormat = Field(
        "json",
        alias="LOG_FORMAT",
        description="`json`: one JSON object per line (timestamp, level, service, logger, "
        "message, correlationId, tenantId, jobId, step, traceId, spanId); `text`: one readable "
        "line with the same context.",
    )
    traces_exporter: TracesExporter = Field(
        "none",
        alias="OTEL_TRACES_EXPORTER",
        description="Where OpenTelemetry spans go: `none` (spans are still made, so the W3C "
        "trace context propagates through the events), `console` (stdout) or `otlp` (OTLP over "
        "HTTP; needs the `talkavocado-common[otlp]` extra).",
    )
    otlp_endpoint: str | None = Field(
        None,
        alias="OTEL_EXPORTER_OTLP_ENDPOINT",
        description="Base URL of the OTLP/HTTP collector (e.g. `http://otel-collector:4318`; "
        "`/v1/traces` is appended). Unset: the exporter's default, `http://localhost:4318`.",
    )

    @field_validator("log_level", mode="before")
    @classmethod
    def _level(cls, value: Any) -> Any:
        if isinstance(value, str):
            name = value.strip().upper()
            if name == "WARN":
                name = "WARNING"
            if name not in LOG_LEVELS:
                raise ValueError(f"not a log level (one of {', '.join(LOG_LEVELS)})")
            return name
        return value

    @field_validator("log_format", "traces_exporter", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("otlp_endpoint", mode="before")
    @classmethod
    def _endpoint(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.strip()
            if not value:
                return None
            if not value.startswith(("http://", "https://")):
                raise ValueError("must be an http:// or https:// URL")
        return value

    @property
    def level_number(self) -> int:
        return int(logging.getLevelName(self.log_level))

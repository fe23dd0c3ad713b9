"""Per-request context (correlation id, tenant, job) for logs, and JSON logging.

The middleware sets the correlation id; the auth and job dependencies add tenant and job. Every
log record emitted while serving the request carries them, whatever logger emitted it.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import uuid
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

correlation_id_var: ContextVar[str | None] = ContextVar("correlation_id", default=None)
traceparent_var: ContextVar[str | None] = ContextVar("traceparent", default=None)
tenant_id_var: ContextVar[str | None] = ContextVar("tenant_id", default=None)
job_id_var: ContextVar[str | None] = ContextVar("job_id", default=None)

CORRELATION_HEADER = "x-correlation-id"
_CORRELATION_RE = re.compile(r"^[A-Za-z0-9._:@/+=-]{1,128}$")
_TRACEPARENT_RE = re.compile(r"^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")


def accept_correlation_id(value: str | None) -> str:
    """The client's id if it is a sane token, else a new one (never echo arbitrary bytes)."""
    if value and _CORRELATION_RE.fullmatch(value):
        return value
    return uuid.uuid4().hex


def accept_traceparent(value: str | None) -> str | None:
    if value and _TRACEPARENT_RE.fullmatch(value.strip().lower()):
        return value.strip().lower()
    return None


def current_correlation_id() -> str:
    return correlation_id_var.get() or uuid.uuid4().hex


class ContextFilter(logging.Filter):
    """Adds correlationId, tenantId and jobId to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, var in (
            ("correlationId", correlation_id_var),
            ("tenantId", tenant_id_var),
            ("jobId", job_id_var),
        ):
            if getattr(record, name, None) is None:  # an explicit `extra=` wins
                setattr(record, name, var.get())
        return True


_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "color_message"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, context and any `extra=`."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and value is not None and not key.startswith("_"):
                out[key] = value
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


def configure_logging(level: str = "INFO") -> None:
    """JSON logs on stderr for the whole process (uvicorn's loggers included)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True

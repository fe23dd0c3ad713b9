"""Per-request context (correlation id, tenant, job) for logs.

The middleware sets the correlation id; the auth and job dependencies add tenant and job. Every
log record emitted while serving the request carries them, whatever logger emitted it. The
variables are the shared log context of talkavocado_common.observability, so the common
formatters (JSON or text, with the request span's traceId / spanId) print them.
"""

from __future__ import annotations

import logging
import re
import uuid
from contextvars import ContextVar

from talkavocado_common.observability.context import (
    correlation_id_var,
    job_id_var,
    step_var,
    tenant_id_var,
)
from talkavocado_common.observability.logging import JsonFormatter as _CommonJsonFormatter

SERVICE = "api"

# The W3C traceparent of the request's span: what the events a request produces carry.
traceparent_var: ContextVar[str | None] = ContextVar("traceparent", default=None)

__all__ = [
    "CORRELATION_HEADER",
    "SERVICE",
    "ContextFilter",
    "JsonFormatter",
    "accept_correlation_id",
    "accept_traceparent",
    "correlation_id_var",
    "current_correlation_id",
    "job_id_var",
    "step_var",
    "tenant_id_var",
    "traceparent_var",
]

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
    """Adds correlationId, tenantId and jobId to every record (the formatters read the log
    context themselves; this is for other formatters)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, var in (
            ("correlationId", correlation_id_var),
            ("tenantId", tenant_id_var),
            ("jobId", job_id_var),
        ):
            if getattr(record, name, None) is None:  # an explicit `extra=` wins
                setattr(record, name, var.get())
        return True


class JsonFormatter(_CommonJsonFormatter):
    """The common JSON line formatter, service `api`."""

    def __init__(self, service: str | None = SERVICE) -> None:
        super().__init__(service)

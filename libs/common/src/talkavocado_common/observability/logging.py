"""Process logging: one handler on the root logger, JSON (default) or one-line text.

Every line carries the service, the log context (correlationId, tenantId, jobId, step; null
when unknown) and the current span's traceId / spanId. Third-party loggers (aiokafka, faust,
mode, uvicorn) are made to propagate to the same handler.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

from .context import FIELDS
from .settings import ObservabilitySettings
from .tracing import current_ids

# Loggers that bring their own handlers (or are configured by their framework): theirs are
# removed so that everything goes through ours.
THIRD_PARTY = (
    "aiokafka",
    "faust",
    "mode",
    "uvicorn",
    "uvicorn.error",
    "uvicorn.access",
    "fastapi",
)
# Chatty below WARNING at INFO (every group join, every fetch session).
QUIET_BELOW_WARNING = ("aiokafka",)

CONTEXT_KEYS = tuple(key for key, _ in FIELDS.values())
CORE_KEYS = ("timestamp", "level", "service", "logger", "message", *CONTEXT_KEYS)
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {
    "message",
    "asctime",
    "color_message",
    "taskName",
}


def _timestamp(record: logging.LogRecord) -> str:
    moment = datetime.fromtimestamp(record.created, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def record_fields(record: logging.LogRecord, service: str | None) -> dict[str, Any]:
    """The fields of one line, in order: the core keys, the span ids, then any `extra=`.

    An `extra={"jobId": ...}` given to the call wins over the log context."""
    out: dict[str, Any] = {
        "timestamp": _timestamp(record),
        "level": record.levelname,
        "service": getattr(record, "service", None) or service,
        "logger": record.name,
        "message": record.getMessage(),
    }
    for key, var in FIELDS.values():
        explicit = getattr(record, key, None)
        out[key] = explicit if explicit is not None else var.get()
    trace_id, span_id = current_ids()
    out["traceId"] = getattr(record, "traceId", None) or trace_id
    out["spanId"] = getattr(record, "spanId", None) or span_id
    for key, value in record.__dict__.items():
        if key in out or key in _STANDARD or key.startswith("_") or value is None:
            continue
        out[key] = value
    return out


class JsonFormatter(logging.Formatter):
    """One JSON object per line (see `record_fields`), `exception` / `stack` as strings."""

    def __init__(self, service: str | None = None) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        out = record_fields(record, self.service)
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            out["exception"] = record.exc_text
        if record.stack_info:
            out["stack"] = self.formatStack(record.stack_info)
        return json.dumps(out, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """`2024-05-01T12:00:00.000Z INFO audio talkavocado_common.worker.runtime: message
    [correlationId=… tenantId=… jobId=… step=… traceId=…]` — unknown fields left out."""

    def __init__(self, service: str | None = None) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        out = record_fields(record, self.service)
        context = " ".join(
            f"{key}={out[key]}"
            for key in (*CONTEXT_KEYS, "traceId", "spanId")
            if out.get(key) is not None
        )
        line = (
            f"{out['timestamp']} {out['level']} {out['service'] or '-'} {out['logger']}: "
            f"{out['message']}" + (f" [{context}]" if context else "")
        )
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        if record.stack_info:
            line += "\n" + self.formatStack(record.stack_info)
        return line


def make_formatter(service: str, settings: ObservabilitySettings) -> logging.Formatter:
    return JsonFormatter(service) if settings.log_format == "json" else TextFormatter(service)


def configure_logging(
    service: str,
    settings: ObservabilitySettings | None = None,
    stream: TextIO | None = None,
) -> logging.Handler:
    """Route every log record of the process to one handler on `stream` (default: stderr).

    Replaces the root logger's handlers, sets its level from LOG_LEVEL, strips the handlers of
    third-party loggers and makes them propagate. Call once at start-up, before any framework
    sets up its own logging (pass `log_config=None` to uvicorn, `override_logging=False` to
    faust's Worker). Returns the handler.
    """
    settings = settings or ObservabilitySettings()
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(make_formatter(service, settings))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(settings.level_number)
    for name in THIRD_PARTY:
        logger = logging.getLogger(name)
        for old in list(logger.handlers):
            logger.removeHandler(old)
        logger.propagate = True
        logger.setLevel(logging.NOTSET)
    for name in QUIET_BELOW_WARNING:
        logging.getLogger(name).setLevel(max(logging.WARNING, settings.level_number))
    return handler

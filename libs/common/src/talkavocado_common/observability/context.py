"""The log context: who a log line is about (correlation id, tenant, job, step).

Context variables, so each asyncio task (and each thread started with `asyncio.to_thread` /
`anyio.to_thread`, which copy the context) sees its own values: two steps or two requests
served at once never mix their ids. The formatters read them when a record is written.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from dataclasses import dataclass

correlation_id_var: ContextVar[str | None] = ContextVar("talkavocado_correlation_id", default=None)
tenant_id_var: ContextVar[str | None] = ContextVar("talkavocado_tenant_id", default=None)
job_id_var: ContextVar[str | None] = ContextVar("talkavocado_job_id", default=None)
step_var: ContextVar[str | None] = ContextVar("talkavocado_step", default=None)

# Field name (Python) → (key in log lines, variable).
FIELDS: dict[str, tuple[str, ContextVar[str | None]]] = {
    "correlation_id": ("correlationId", correlation_id_var),
    "tenant_id": ("tenantId", tenant_id_var),
    "job_id": ("jobId", job_id_var),
    "step": ("step", step_var),
}

_UNSET = object()


@dataclass(frozen=True)
class LogContext:
    correlation_id: str | None = None
    tenant_id: str | None = None
    job_id: str | None = None
    step: str | None = None

    def as_log_fields(self) -> dict[str, str | None]:
        """{"correlationId": ..., "tenantId": ..., "jobId": ..., "step": ...}"""
        return {key: getattr(self, name) for name, (key, _) in FIELDS.items()}


def get_log_context() -> LogContext:
    return LogContext(**{name: var.get() for name, (_, var) in FIELDS.items()})


def _set(values: dict[str, object]) -> list[tuple[ContextVar[str | None], Token[str | None]]]:
    tokens: list[tuple[ContextVar[str | None], Token[str | None]]] = []
    for name, value in values.items():
        if value is _UNSET:
            continue
        entry = FIELDS.get(name)
        if entry is None:
            raise TypeError(f"unknown log context field {name!r} (known: {', '.join(FIELDS)})")
        var = entry[1]
        tokens.append((var, var.set(None if value is None else str(value))))
    return tokens


def bind(
    *,
    correlation_id: str | object | None = _UNSET,
    tenant_id: str | object | None = _UNSET,
    job_id: str | object | None = _UNSET,
    step: str | object | None = _UNSET,
) -> None:
    """Set fields of the log context for the rest of the current task (or context). Only the
    fields given change; None clears one."""
    _set({"correlation_id": correlation_id, "tenant_id": tenant_id, "job_id": job_id, "step": step})


@contextmanager
def log_context(
    *,
    correlation_id: str | object | None = _UNSET,
    tenant_id: str | object | None = _UNSET,
    job_id: str | object | None = _UNSET,
    step: str | object | None = _UNSET,
) -> Iterator[LogContext]:
    """Set the given fields inside the `with` block, restore them after (nests: fields not
    given keep their outer values)."""
    tokens = _set(
        {"correlation_id": correlation_id, "tenant_id": tenant_id, "job_id": job_id, "step": step}
    )
    try:
        yield get_log_context()
    finally:
        for var, token in reversed(tokens):
            var.reset(token)

"""The outermost ASGI layer: correlation id, the request's span, access log, Prometheus metrics,
JSON body limit, and a JSON 500 for anything that escaped the exception handlers.

Each request runs in an OpenTelemetry SERVER span, child of the client's `traceparent` when it
sends one; the events the request produces carry that span's context (`traceparent_var`), so
the orchestrator's and the steps' spans join the same trace. When an outer layer already made
the request's server span (FastAPI's native telemetry does, once a tracer provider is set),
that span is used and given the request's ids instead of making a second one.

A pure ASGI middleware (not BaseHTTPMiddleware): streaming uploads and SSE pass through
untouched, and the context variables it sets are seen by the endpoint and its streaming body.
"""

from __future__ import annotations

import json
import logging
import re
import time
from contextvars import Token
from dataclasses import dataclass
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from talkavocado_common.observability.tracing import (
    context_from_traceparent,
    current_traceparent,
    mark_error,
    start_span,
)

from .context import (
    CORRELATION_HEADER,
    accept_correlation_id,
    accept_traceparent,
    correlation_id_var,
    job_id_var,
    tenant_id_var,
    traceparent_var,
)
from .metrics import ApiMetrics

access_log = logging.getLogger("talkavocado_api.access")
log = logging.getLogger("talkavocado_api")

# The upload streams its own, larger limit; every other body is small JSON.
_STREAMED_BODY = re.compile(r"^/jobs/[^/]+/input$")
_UNMATCHED = "<unmatched>"


def _route_template(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else _UNMATCHED


class RequestMiddleware:
    def __init__(self, app: ASGIApp, *, metrics: ApiMetrics, max_json_body_bytes: int) -> None:
        self.app = app
        self.metrics = metrics
        self.max_json_body_bytes = max_json_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        method = scope["method"]
        outer = trace.get_current_span()
        if outer.is_recording() and outer.get_span_context().is_valid:
            await self._serve(scope, receive, send, headers, outer, own_span=False)
            return
        client_trace = accept_traceparent(headers.get("traceparent"))
        with start_span(
            f"{method} {_UNMATCHED}",
            parent=context_from_traceparent(client_trace, headers.get("tracestate")),
            kind=SpanKind.SERVER,
            attributes={
                "http.request.method": method,
                "url.path": scope["path"],
                "url.scheme": scope.get("scheme"),
                "user_agent.original": headers.get("user-agent"),
            },
        ) as span:
            await self._serve(scope, receive, send, headers, span, own_span=True)

    async def _serve(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        headers: Headers,
        span: Span,
        *,
        own_span: bool,
    ) -> None:
        correlation_id = accept_correlation_id(headers.get(CORRELATION_HEADER))
        span.set_attribute("talkavocado.correlation_id", correlation_id)
        tokens = _enter_context(correlation_id)
        outcome = _Outcome()
        began = time.perf_counter()
        send_wrapper = _watching(send, outcome, correlation_id, span)
        self.metrics.in_flight.inc()
        try:
            limited = not _STREAMED_BODY.match(scope["path"])
            if limited and _content_length(headers) > self.max_json_body_bytes:
                raise _BodyTooLarge(self.max_json_body_bytes)
            await self.app(
                scope,
                _limit_receive(receive, self.max_json_body_bytes) if limited else receive,
                send_wrapper,
            )
        except Exception as exc:
            if isinstance(exc, _BodyTooLarge) and not outcome.started:
                body = _error_body("payload_too_large", exc.detail, correlation_id)
                await _send_json(send_wrapper, 413, body)
            else:
                log.error("unhandled error", exc_info=exc)
                if outcome.started:
                    raise
                body = _error_body("internal_error", "internal server error", correlation_id)
                await _send_json(send_wrapper, 500, body)
        finally:
            self._record(scope, span, outcome, time.perf_counter() - began, own_span=own_span)
            _leave_context(tokens)

    def _record(
        self, scope: Scope, span: Span, outcome: _Outcome, elapsed: float, *, own_span: bool
    ) -> None:
        """Metrics, the span's name, status and error, and the access log line."""
        method, status = scope["method"], outcome.status
        route = _route_template(scope)
        self.metrics.in_flight.dec()
        self.metrics.requests.labels(method, route, str(status)).inc()
        self.metrics.latency.labels(method, route).observe(elapsed)
        if own_span:
            span.update_name(f"{method} {route}")
            span.set_attribute("http.route", route)
            span.set_attribute("http.response.status_code", status)
        if not outcome.started:
            _annotate(span)
        if own_span and status >= 500:
            mark_error(span, f"HTTP {status}")
        access_log.info(
            "%s %s %s",
            method,
            scope["path"],
            status,
            extra={
                "method": method,
                "path": scope["path"],
                "route": route,
                "status": status,
                "durationMs": round(elapsed * 1000, 2),
            },
        )


@dataclass
class _Outcome:
    """What the app sent so far: the status (500 until a response starts)."""

    status: int = 500
    started: bool = False


_CONTEXT = (correlation_id_var, traceparent_var, tenant_id_var, job_id_var)


def _enter_context(correlation_id: str) -> tuple[Token[str | None], ...]:
    return (
        correlation_id_var.set(correlation_id),
        traceparent_var.set(current_traceparent()),
        tenant_id_var.set(None),
        job_id_var.set(None),
    )


def _leave_context(tokens: tuple[Token[str | None], ...]) -> None:
    for var, token in zip(_CONTEXT, tokens, strict=True):
        var.reset(token)


def _watching(send: Send, outcome: _Outcome, correlation_id: str, span: Span) -> Send:
    """`send`, noting the response's start in `outcome` and adding the correlation id."""

    async def send_wrapper(message: Message) -> None:
        if message["type"] == "http.response.start":
            outcome.started = True
            outcome.status = message["status"]
            MutableHeaders(scope=message)[CORRELATION_HEADER] = correlation_id
            _annotate(span)  # while the span is open, whoever ends it
        await send(message)

    return send_wrapper


def _error_body(error: str, detail: str, correlation_id: str) -> dict[str, Any]:
    return {"error": error, "detail": detail, "correlationId": correlation_id}


def _annotate(span: Span) -> None:
    """The tenant and job the request turned out to be about (known once it was routed)."""
    tenant, job = tenant_id_var.get(), job_id_var.get()
    if tenant is not None:
        span.set_attribute("talkavocado.tenant_id", tenant)
    if job is not None:
        span.set_attribute("talkavocado.job_id", job)


class _BodyTooLarge(StarletteHTTPException):
    """Raised from `receive`: FastAPI re-raises HTTP exceptions met while reading the body,
    so this reaches the JSON error handler as a 413."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request bodies are limited to {limit} bytes")


def _content_length(headers: Headers) -> int:
    try:
        return int(headers.get("content-length", "0"))
    except ValueError:
        return 0


def _limit_receive(receive: Receive, limit: int) -> Receive:
    total = 0

    async def limited() -> Message:
        nonlocal total
        message = await receive()
        if message["type"] == "http.request":
            total += len(message.get("body", b""))
            if total > limit:
                raise _BodyTooLarge(limit)
        return message

    return limited


async def _send_json(send: Send, status: int, body: dict[str, Any]) -> None:
    data = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(data)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": data})

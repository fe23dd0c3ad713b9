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
        tokens = (
            correlation_id_var.set(correlation_id),
            traceparent_var.set(current_traceparent()),
            tenant_id_var.set(None),
            job_id_var.set(None),
        )
        status = 500
        started = False
        began = time.perf_counter()

        async def send_wrapper(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                started = True
                status = message["status"]
                MutableHeaders(scope=message)[CORRELATION_HEADER] = correlation_id
                _annotate(span)  # while the span is open, whoever ends it
            await send(message)

        method = scope["method"]
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
            if isinstance(exc, _BodyTooLarge) and not started:
                await _send_json(
                    send_wrapper,
                    413,
                    {
                        "error": "payload_too_large",
                        "detail": exc.detail,
                        "correlationId": correlation_id,
                    },
                )
            else:
                log.error("unhandled error", exc_info=exc)
                if started:
                    raise
                await _send_json(
                    send_wrapper,
                    500,
                    {
                        "error": "internal_error",
                        "detail": "internal server error",
                        "correlationId": correlation_id,
                    },
                )
        finally:
            elapsed = time.perf_counter() - began
            route = _route_template(scope)
            self.metrics.in_flight.dec()
            self.metrics.requests.labels(method, route, str(status)).inc()
            self.metrics.latency.labels(method, route).observe(elapsed)
            if own_span:
                span.update_name(f"{method} {route}")
                span.set_attribute("http.route", route)
                span.set_attribute("http.response.status_code", status)
            if not started:
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
            for var, token in zip(
                (correlation_id_var, traceparent_var, tenant_id_var, job_id_var),
                tokens,
                strict=True,
            ):
                var.reset(token)


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

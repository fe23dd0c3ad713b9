"""Every error is JSON `{error, detail, correlationId, ...}`: never an HTML page or a traceback.

The use cases raise `UseCaseError`s, which `http_error` maps to `ApiError`s (status code, error
code, extra fields, headers); the HTTP layer (routes, dependencies) raises `ApiError`s itself.
The handlers here turn those, FastAPI's validation errors, Starlette's HTTP errors and anything
unexpected into JSON responses.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import BaseRoute, Match
from starlette.types import Scope

from talkavocado_common.models import JobStatus

from .context import current_correlation_id
from .usecases import errors as domain

log = logging.getLogger("talkavocado_api")


class ErrorBody(BaseModel):
    """The shape of every error response."""

    model_config = ConfigDict(extra="allow")

    error: str
    detail: str | None = None
    correlationId: str | None = None  # noqa: N815 - wire name


class ApiError(Exception):
    status_code = 500
    error = "internal_error"

    def __init__(
        self,
        detail: str,
        *,
        extra: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = dict(extra or {})
        self.headers = dict(headers or {})


class InvalidRequest(ApiError):
    status_code = 400
    error = "invalid_request"


class Unauthorized(ApiError):
    status_code = 401
    error = "unauthorized"

    def __init__(self, detail: str) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": "Bearer"})


class Forbidden(ApiError):
    status_code = 403
    error = "forbidden"


class NotFound(ApiError):
    status_code = 404
    error = "not_found"


class Conflict(ApiError):
    status_code = 409
    error = "conflict"


class IdempotencyConflict(Conflict):
    error = "idempotency_key_reused"


class PayloadTooLarge(ApiError):
    status_code = 413
    error = "payload_too_large"


class RangeNotSatisfiable(ApiError):
    status_code = 416
    error = "range_not_satisfiable"

    def __init__(self, size: int) -> None:
        super().__init__(
            f"the requested range is outside the object ({size} bytes)",
            headers={"Content-Range": f"bytes */{size}"},
        )


class InputInvalid(ApiError):
    status_code = 422
    error = "input_invalid"


class TooManyRequests(ApiError):
    status_code = 429
    error = "too_many_requests"

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(
            detail,
            extra={"retryAfterSeconds": retry_after},
            headers={"Retry-After": str(retry_after)},
        )


class Unavailable(ApiError):
    status_code = 503
    error = "unavailable"


# --- use case errors → HTTP errors: the one mapping -------------------------------------------


def _status_extra(status: JobStatus | None) -> dict[str, Any]:
    return {} if status is None else {"status": status.value}


@functools.singledispatch
def http_error(error: domain.UseCaseError) -> ApiError:
    """The HTTP error that answers a use case's refusal."""
    log.error("no HTTP answer for %s: %s", type(error).__name__, error.message)
    return ApiError("internal server error")  # a kind this mapping does not know yet


@http_error.register
def _job_not_found(error: domain.JobNotFound) -> ApiError:
    return NotFound(error.message)


@http_error.register
def _webhook_not_found(error: domain.WebhookNotFound) -> ApiError:
    return NotFound(error.message)


@http_error.register
def _invalid_destination(error: domain.InvalidDestination) -> ApiError:
    return InputInvalid(error.message)


@http_error.register
def _artifact_not_found(error: domain.ArtifactNotFound) -> ApiError:
    return NotFound(error.message)


@http_error.register
def _invalid_input(error: domain.InvalidInput) -> ApiError:
    return InvalidRequest(error.message)


@http_error.register
def _conflict(error: domain.Conflict) -> ApiError:
    return Conflict(error.message, extra=_status_extra(error.status))


@http_error.register
def _idempotency_key_reused(error: domain.IdempotencyKeyReused) -> ApiError:
    return IdempotencyConflict(
        error.message, extra={"jobId": error.job_id, "manifestKey": error.manifest_key}
    )


@http_error.register
def _upload_too_large(error: domain.UploadTooLarge) -> ApiError:
    return PayloadTooLarge(error.message)


@http_error.register
def _range_not_satisfiable(error: domain.RangeNotSatisfiable) -> ApiError:
    return RangeNotSatisfiable(error.size)


@http_error.register
def _input_rejected(error: domain.InputRejected) -> ApiError:
    return InputInvalid(error.message)


@http_error.register
def _unavailable(error: domain.Unavailable) -> ApiError:
    return Unavailable(error.message)


@http_error.register
def _too_many_requests(error: domain.TooManyRequests) -> ApiError:
    return TooManyRequests(error.message, error.retry_after)


# --- responses --------------------------------------------------------------------------------


def error_response(
    status_code: int,
    error: str,
    detail: str | None,
    *,
    extra: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {"error": error}
    if detail is not None:
        body["detail"] = detail
    body.update(extra or {})
    body["correlationId"] = current_correlation_id()
    return JSONResponse(body, status_code=status_code, headers=dict(headers or {}))


def _location(loc: Sequence[Any]) -> str:
    """`input.mimeType`, `tenantId`, `path`: the field, without where it was (body, query...)."""
    where = ("body", "query", "path", "header", "cookie")
    parts = [str(p) for p in (loc[1:] if loc and loc[0] in where else loc)]
    return ".".join(parts) or "request"


_BODY_TYPES = {"model_attributes_type", "dict_type", "model_type"}
# What a malformed identifier reads as, instead of the pattern it failed (the pattern is in
# the OpenAPI document). `{value!r}` is the value sent.
_SHAPE_TYPES = {"string_pattern_mismatch", "string_too_long", "string_too_short"}
_SHAPE_MESSAGES = {
    ("query", "tenantId"): "invalid tenant id {value!r}: use 1-64 lowercase letters, digits, '-' "
    "or '_', starting and ending with a letter or digit",
    ("path", "jobId"): "{value!r} is not a job id",
    ("path", "webhookId"): "{value!r} is not a webhook id",
    ("body", "url"): "not an http or https URL with a host (and no user:password@)",
    ("path", "path"): "invalid artifact path {value!r}",
    ("query", "cursor"): "not a cursor returned by this API",
    ("header", "Idempotency-Key"): "1-255 printable ASCII characters expected",
}


def _message(error: Mapping[str, Any]) -> str:
    kind = error.get("type")
    loc = tuple(error.get("loc", ()))
    if kind == "json_invalid":
        reason = (error.get("ctx") or {}).get("error", "")
        return f"the body is not valid JSON{': ' + str(reason) if reason else ''}"
    if loc == ("body",) and kind in _BODY_TYPES:
        return "the body must be a JSON object (Content-Type: application/json)"
    if kind == "missing" and loc == ("body",):
        return "a JSON body is required"
    if kind in _SHAPE_TYPES and loc in _SHAPE_MESSAGES:
        return _SHAPE_MESSAGES[loc].format(value=error.get("input"))
    msg = str(error.get("msg", "invalid value"))
    return msg.removeprefix("Value error, ")


def validation_detail(errors: Sequence[Any]) -> tuple[str, list[dict[str, str]]]:
    items = [
        {
            "field": "request" if e.get("type") == "json_invalid" else _location(e.get("loc", ())),
            "message": _message(e),
        }
        for e in errors
    ]
    if not items:
        return "invalid request", []
    first = items[0]
    if first["field"] == "request":
        return first["message"], items
    return f"{first['field']}: {first['message']}", items


_HTTP_ERRORS = {
    400: "invalid_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


def _methods(routes: Sequence[BaseRoute], scope: Scope) -> set[str]:
    methods: set[str] = set()
    for route in routes:
        match, child = route.matches(scope)
        if match == Match.NONE:
            continue
        # An included router: FastAPI wraps it (original_router); Starlette's have `routes`.
        router = getattr(route, "original_router", route)
        nested: Sequence[BaseRoute] | None = getattr(router, "routes", None)
        if nested is not None:
            methods |= _methods(nested, {**scope, **child})
        else:
            methods |= getattr(route, "methods", None) or set()
    return methods


def allowed_methods(request: Request) -> str:
    """Every method some route answers on the request's path (RFC 9110 §15.5.6 `Allow`)."""
    return ", ".join(sorted(_methods(request.app.router.routes, request.scope)))


def install_error_handlers(app: FastAPI) -> None:
    async def api_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        if exc.status_code >= 500:
            log.warning("%s: %s", exc.error, exc.detail)
        return error_response(
            exc.status_code, exc.error, exc.detail, extra=exc.extra, headers=exc.headers
        )

    async def use_case_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, domain.UseCaseError)
        return await api_error(request, http_error(exc))

    async def validation_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        # FastAPI parses the body before dependencies run: authenticate first, so a request
        # without a valid key gets 401 whatever its body looks like.
        authenticate = getattr(request.app.state, "authenticate_request", None)
        if authenticate is not None:
            try:
                authenticate(request)
            except ApiError as auth_error:
                return await api_error(request, auth_error)
        detail, items = validation_detail(exc.errors())
        return error_response(400, "invalid_request", detail, extra={"errors": items})

    async def starlette_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        code = _HTTP_ERRORS.get(exc.status_code, "http_error")
        detail = exc.detail if isinstance(exc.detail, str) else None
        headers = dict(exc.headers or {})
        if exc.status_code == 405:  # Starlette names only the first route of the path
            headers["Allow"] = allowed_methods(request)
        return error_response(exc.status_code, code, detail, headers=headers)

    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled error", exc_info=exc)
        return error_response(500, "internal_error", "internal server error")

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(domain.UseCaseError, use_case_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, starlette_error)
    app.add_exception_handler(Exception, unexpected)

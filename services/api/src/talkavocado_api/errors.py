"""Every error is JSON `{error, detail, correlationId, ...}`: never an HTML page or a traceback.

The service layer raises `ApiError` subclasses; the handlers here turn them, FastAPI's
validation errors, Starlette's HTTP errors and anything unexpected into JSON responses.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException

from .context import current_correlation_id

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


class JobNotFound(NotFound):
    """Unknown job, or another tenant's job: the same answer, byte for byte."""

    def __init__(self, job_id: str) -> None:
        super().__init__(f"job {job_id!r} not found")


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


class Unavailable(ApiError):
    status_code = 503
    error = "unavailable"


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
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "request"


_BODY_TYPES = {"model_attributes_type", "dict_type", "model_type"}


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


def install_error_handlers(app: FastAPI) -> None:
    async def api_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        if exc.status_code >= 500:
            log.warning("%s: %s", exc.error, exc.detail)
        return error_response(
            exc.status_code, exc.error, exc.detail, extra=exc.extra, headers=exc.headers
        )

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

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        code = _HTTP_ERRORS.get(exc.status_code, "http_error")
        detail = exc.detail if isinstance(exc.detail, str) else None
        return error_response(exc.status_code, code, detail, headers=exc.headers)

    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled error", exc_info=exc)
        return error_response(500, "internal_error", "internal server error")

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)

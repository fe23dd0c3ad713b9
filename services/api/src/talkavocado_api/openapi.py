"""The OpenAPI document, exact: every status code an operation can answer, every limit and
pattern the API enforces, and links from a created job to what can be done with it.

FastAPI's own document is the start. It declares a 422 "Validation Error" on every operation
with parameters, which this API answers as 400 (errors.py); it knows nothing of the 401/429 the
authentication adds, of the 413 the body limit (middleware.py) adds, or of limits that come from
the settings (MAX_UPLOAD_BYTES). Those are put right here, once, when the document is first
asked for. tests/integration/api/test_schemathesis.py holds the running API to the result.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from .settings import ApiSettings

_VALIDATION_SCHEMAS = ("HTTPValidationError", "ValidationError")
_ERROR_REF = {"$ref": "#/components/schemas/ErrorBody"}

# Added to every operation that needs an API key, and to every one with a JSON body.
_AUTH_ERRORS = {
    "401": "Missing or invalid API key.",
    "429": "Too many requests: too many failed authentications from this client, or an "
    "admission limit; `Retry-After` says when to try again.",
}
_BODY_ERRORS = {
    "400": "Invalid request (JSON error body).",
    "413": "The JSON body is larger than the configured limit.",
}
_PARAMETER_ERRORS = {"400": "Invalid request (JSON error body)."}

# What a created job (or a job's view) leads to: its id and tenant fill the next request.
_JOB = {"path.jobId": "$response.body#/jobId", "query.tenantId": "$response.body#/tenantId"}
_LINKS: dict[tuple[str, str], dict[str, str]] = {
    ("createJob", "201"): {
        "GetJob": "getJob",
        "UploadJobInput": "uploadJobInput",
        "CancelJob": "cancelJob",
        "RetryJob": "retryJob",
    },
    ("uploadJobInput", "202"): {"GetJob": "getJob", "CancelJob": "cancelJob"},
    ("getJob", "200"): {"CancelJob": "cancelJob", "RetryJob": "retryJob"},
}


def install_openapi(app: FastAPI, settings: ApiSettings) -> None:
    """Make `app.openapi()` (and /openapi.json) serve the exact document."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = contract_document(app, settings)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def contract_document(app: FastAPI, settings: ApiSettings) -> dict[str, Any]:
    document = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
        tags=app.openapi_tags,
    )
    for operation in _operations(document):
        _declare_errors(operation)
    _declare_links(document)
    _declare_limits(document, settings)
    schemas = document.get("components", {}).get("schemas", {})
    for name in _VALIDATION_SCHEMAS:
        schemas.pop(name, None)
    return document


def _operations(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        operation
        for item in document.get("paths", {}).values()
        for method, operation in item.items()
        if method in {"get", "put", "post", "delete", "patch", "head", "options"}
    ]


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ERROR_REF}}}


def _declare_errors(operation: dict[str, Any]) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    default_422 = responses.get("422", {})
    if "HTTPValidationError" in str(default_422):  # FastAPI's, never sent: 400 instead
        del responses["422"]
    wanted: dict[str, str] = {}
    if operation.get("parameters"):
        wanted |= _PARAMETER_ERRORS
    if "application/json" in operation.get("requestBody", {}).get("content", {}):
        wanted |= _BODY_ERRORS
    if operation.get("security"):
        wanted |= _AUTH_ERRORS
    for code, description in wanted.items():
        responses.setdefault(code, _error(description))


def _declare_links(document: dict[str, Any]) -> None:
    by_id = {operation.get("operationId"): operation for operation in _operations(document)}
    for (operation_id, status), links in _LINKS.items():
        response = by_id[operation_id]["responses"][status]
        response["links"] = {
            name: {
                "operationId": target,
                "parameters": dict(_JOB),
                "description": f"The job's {target}.",
            }
            for name, target in links.items()
        }


def _declare_limits(document: dict[str, Any], settings: ApiSettings) -> None:
    """Limits that are settings, not constants of the code."""
    schemas = document["components"]["schemas"]
    size = schemas["InputMetadata"]["properties"]["bytes"]
    size["maximum"] = settings.max_upload_bytes

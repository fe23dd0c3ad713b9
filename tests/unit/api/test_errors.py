"""The one mapping from the use cases' errors to HTTP: status code, error code, detail, extra
fields and headers of each; and the JSON body the handler sends for one."""

from __future__ import annotations

from typing import Any

import pytest

from talkavocado_api.errors import http_error
from talkavocado_api.usecases import errors as domain
from talkavocado_common.models import JobStatus

from .support import TENANT_A, Api

CASES: list[tuple[domain.UseCaseError, int, str, str, dict[str, Any], dict[str, str]]] = [
    (domain.JobNotFound("j1"), 404, "not_found", "job 'j1' not found", {}, {}),
    (
        domain.WebhookNotFound("wh_1"),
        404,
        "not_found",
        "webhook 'wh_1' not found",
        {},
        {},
    ),
    (domain.InvalidDestination("url: no host"), 422, "input_invalid", "url: no host", {}, {}),
    (
        domain.ArtifactNotFound("renders/x.mp4"),
        404,
        "not_found",
        "no artifact 'renders/x.mp4' in this job",
        {},
        {},
    ),
    (
        domain.InvalidInput("limit", "between 1 and 100"),
        400,
        "invalid_request",
        "limit: between 1 and 100",
        {},
        {},
    ),
    (domain.InvalidInput(None, "no field"), 400, "invalid_request", "no field", {}, {}),
    (
        domain.Conflict("busy", status=JobStatus.PROCESSING),
        409,
        "conflict",
        "busy",
        {"status": "processing"},
        {},
    ),
    (domain.Conflict("raced"), 409, "conflict", "raced", {}, {}),
    (
        domain.IdempotencyKeyReused("j0", "env/t/j0/manifest.json"),
        409,
        "idempotency_key_reused",
        "this Idempotency-Key was already used; the first job is returned",
        {"jobId": "j0", "manifestKey": "env/t/j0/manifest.json"},
        {},
    ),
    (
        domain.UploadTooLarge(10, 12),
        413,
        "payload_too_large",
        "the upload is larger than 10 bytes (declared input.bytes: 12)",
        {},
        {},
    ),
    (
        domain.RangeNotSatisfiable(99),
        416,
        "range_not_satisfiable",
        "the requested range is outside the object (99 bytes)",
        {},
        {"Content-Range": "bytes */99"},
    ),
    (domain.InputRejected("not a video"), 422, "input_invalid", "not a video", {}, {}),
    (domain.Unavailable("broker down"), 503, "unavailable", "broker down", {}, {}),
    (
        domain.TooManyRequests("busy", 7),
        429,
        "too_many_requests",
        "busy",
        {"retryAfterSeconds": 7},
        {"Retry-After": "7"},
    ),
]


@pytest.mark.parametrize(("error", "status", "code", "detail", "extra", "headers"), CASES)
def test_each_use_case_error_has_its_http_answer(
    error: domain.UseCaseError,
    status: int,
    code: str,
    detail: str,
    extra: dict[str, Any],
    headers: dict[str, str],
) -> None:
    mapped = http_error(error)
    assert (mapped.status_code, mapped.error, mapped.detail) == (status, code, detail)
    assert mapped.extra == extra
    assert mapped.headers == headers


def test_every_kind_of_use_case_error_is_mapped() -> None:
    kinds = {type(error) for error, *_ in CASES}
    assert kinds == set(domain.UseCaseError.__subclasses__())


def test_an_unmapped_kind_is_an_internal_error() -> None:
    class Novel(domain.UseCaseError):
        pass

    mapped = http_error(Novel("new"))
    assert (mapped.status_code, mapped.error, mapped.detail) == (
        500,
        "internal_error",
        "internal server error",
    )


async def test_the_handler_answers_a_use_case_error_with_its_json_body(api: Api) -> None:
    response = await api.client.get(
        "/jobs/0190000000000-00", params={"tenantId": TENANT_A}, headers={"x-correlation-id": "c1"}
    )
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {
        "error": "not_found",
        "detail": "job '0190000000000-00' not found",
        "correlationId": "c1",
    }

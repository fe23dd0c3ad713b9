"""/webhooks: thin routes over usecases/webhooks.py (auth and tenant scope from dependencies).

The notify service (services/notify) delivers what these register."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Path, Query, Response

from ..deps import TenantContextDep, WebhooksDep
from ..errors import ErrorBody
from ..webhook_schemas import (
    MAX_DELIVERIES_LIMIT,
    WEBHOOK_ID_MAX,
    WEBHOOK_ID_PATTERN,
    CreatedWebhook,
    CreateWebhookRequest,
    DeliveryList,
    WebhookList,
)

router = APIRouter(prefix="/webhooks", tags=["webhooks"])

WebhookIdPath = Annotated[
    str,
    Path(
        alias="webhookId",
        description="The webhook id returned at registration. A malformed id is a 400, an "
        "unknown one (or another tenant's) a 404.",
        min_length=1,
        max_length=WEBHOOK_ID_MAX,
        pattern=WEBHOOK_ID_PATTERN,
    ),
]

_DESCRIPTIONS = {
    400: "Invalid request (JSON error body).",
    401: "Missing or invalid API key.",
    404: "Unknown webhook, or a webhook of another tenant (the same answer); or another "
    "tenant's id in `tenantId`.",
    409: "The tenant has as many webhooks as it may have.",
    422: "The URL has the right shape but cannot receive deliveries (no host, a bad port, "
    "credentials in it).",
}


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: {"model": ErrorBody, "description": _DESCRIPTIONS[code]} for code in codes}


@router.post(
    "",
    status_code=201,
    operation_id="createWebhook",
    summary="Register a URL to receive signed deliveries of the tenant's job events "
    "(the secret is shown only in this answer)",
    response_model=CreatedWebhook,
    responses=_errors(400, 401, 404, 409, 422),
)
async def create_webhook(
    body: CreateWebhookRequest, ctx: TenantContextDep, webhooks: WebhooksDep, response: Response
) -> CreatedWebhook:
    created = await webhooks.create(ctx, body)
    response.headers["Location"] = f"/webhooks/{created.id}?tenantId={quote(ctx.tenant_id)}"
    return created


@router.get(
    "",
    operation_id="listWebhooks",
    summary="The tenant's webhooks (without their secrets), oldest first",
    response_model=WebhookList,
    responses=_errors(400, 401, 404),
)
async def list_webhooks(ctx: TenantContextDep, webhooks: WebhooksDep) -> WebhookList:
    return await webhooks.list(ctx)


@router.delete(
    "/{webhookId}",
    status_code=204,
    operation_id="deleteWebhook",
    summary="Remove a webhook and its delivery log; pending deliveries are dropped",
    response_class=Response,
    responses={204: {"description": "Removed."}, **_errors(400, 401, 404)},
)
async def delete_webhook(
    webhook_id: WebhookIdPath, ctx: TenantContextDep, webhooks: WebhooksDep
) -> Response:
    await webhooks.delete(ctx, webhook_id)
    return Response(status_code=204)


@router.get(
    "/{webhookId}/deliveries",
    operation_id="listWebhookDeliveries",
    summary="The webhook's delivery log, newest first: each delivery's event, state and "
    "attempts (status code or error, times)",
    response_model=DeliveryList,
    responses=_errors(400, 401, 404),
)
async def list_deliveries(
    webhook_id: WebhookIdPath,
    ctx: TenantContextDep,
    webhooks: WebhooksDep,
    limit: Annotated[
        int, Query(ge=1, le=MAX_DELIVERIES_LIMIT, description="At most this many deliveries.")
    ] = 50,
) -> DeliveryList:
    return await webhooks.deliveries(ctx, webhook_id, limit)

"""Request and response bodies of /webhooks (camelCase on the wire, as the rest of the API)."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from talkavocado_common.webhooks import (
    URL_MAX,
    WEBHOOK_EVENTS,
    WEBHOOK_ID_MAX,
    WEBHOOK_ID_PATTERN,
    DeliveryState,
    WebhookEvent,
)

from .schemas import ApiModel, RequestModel

# http:// or https://, a host (no user:password@), then anything without spaces or control
# characters. What the schema cannot say (the host is a DNS name or an IP literal, the port is
# a port) is a 422.
URL_PATTERN = r"^[Hh][Tt][Tt][Pp][Ss]?://[^\x00-\x20\x7f/?#@\\]+(?:[/?#][^\x00-\x20\x7f\\]*)?$"
MAX_DELIVERIES_LIMIT = 200

__all__ = [
    "MAX_DELIVERIES_LIMIT",
    "URL_PATTERN",
    "WEBHOOK_ID_MAX",
    "WEBHOOK_ID_PATTERN",
    "CreateWebhookRequest",
    "CreatedWebhook",
    "DeliveryAttemptView",
    "DeliveryList",
    "DeliveryView",
    "WebhookList",
    "WebhookView",
]


class CreateWebhookRequest(RequestModel):
    url: str = Field(
        description="Where deliveries are POSTed: http or https. The notify service refuses "
        "loopback, link-local and private addresses unless its operator allows them.",
        examples=["https://example.com/hooks/talkavocado"],
        min_length=1,
        max_length=URL_MAX,
        pattern=URL_PATTERN,
    )
    events: list[WebhookEvent] = Field(
        description="The events to deliver: a job completed, failed or was cancelled.",
        examples=[list(WEBHOOK_EVENTS)],
        min_length=1,
        max_length=len(WEBHOOK_EVENTS),
    )


class WebhookView(ApiModel):
    id: str
    tenant_id: str
    url: str
    events: list[WebhookEvent]
    created_at: datetime


class CreatedWebhook(WebhookView):
    secret: str = Field(
        description="The signing secret (`whsec_` + base64), shown only in this answer: "
        "every delivery carries `webhook-signature: v1,<base64 HMAC-SHA256>` over "
        "`{webhook-id}.{webhook-timestamp}.{body}` keyed with its base64-decoded part."
    )


class WebhookList(ApiModel):
    webhooks: list[WebhookView]


class DeliveryAttemptView(ApiModel):
    attempt: int
    started_at: datetime
    finished_at: datetime
    status_code: int | None = None
    error: str | None = None


class DeliveryView(ApiModel):
    id: str = Field(description="The `webhook-id` header: the same for a duplicate event.")
    event_id: str
    event_type: WebhookEvent
    job_id: str
    state: DeliveryState
    attempts: list[DeliveryAttemptView]
    created_at: datetime
    next_attempt_at: datetime | None = None


class DeliveryList(ApiModel):
    deliveries: list[DeliveryView] = Field(description="Newest first.")

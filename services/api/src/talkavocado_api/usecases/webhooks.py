"""Register, list and remove a tenant's webhooks, and read a webhook's delivery log.

Registrations live in object storage under the tenant's prefix (talkavocado_common.webhooks);
the notify service delivers. Every lookup is scoped to the caller's tenant: another tenant's
webhook is the same WebhookNotFound as one that does not exist.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

from talkavocado_common.storage import PreconditionFailed, Storage
from talkavocado_common.webhooks import (
    WEBHOOK_EVENTS,
    Webhook,
    WebhookDelivery,
    WebhookStore,
    new_secret,
    new_webhook_id,
)

from ..webhook_schemas import (
    MAX_DELIVERIES_LIMIT,
    CreatedWebhook,
    CreateWebhookRequest,
    DeliveryAttemptView,
    DeliveryList,
    DeliveryView,
    WebhookList,
    WebhookView,
)
from .common import RequestContext, log, utcnow
from .errors import Conflict, InvalidDestination, InvalidInput, WebhookNotFound

MAX_WEBHOOKS_PER_TENANT = 20
# An ASCII DNS name (an internationalised one in its punycode form), a trailing dot allowed.
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_HOSTNAME_RE = re.compile(rf"^{_LABEL}(?:\.{_LABEL})*\.?$")


def destination_problem(url: str) -> str | None:
    """Why `url` cannot be a webhook's destination (beyond what the schema checks), or None.

    Only its form is judged here: where the host resolves to is checked by the notify service
    at each connection, under its own address policy."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        return f"not a usable URL: {exc}"
    if parts.scheme.lower() not in ("http", "https"):
        return "only http and https URLs can receive webhooks"
    if parts.username is not None or parts.password is not None:
        return "credentials in the URL are not allowed"
    host = (parts.hostname or "").lower()
    if not host:
        return "the URL has no host"
    if port == 0:
        return "port 0 is not a port"
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if len(host) > 253 or not _HOSTNAME_RE.fullmatch(host):
            return f"{host!r} is not a host name"
    return None


def webhook_view(webhook: Webhook) -> WebhookView:
    return WebhookView(
        id=webhook.id,
        tenant_id=webhook.tenant_id,
        url=webhook.url,
        events=list(webhook.events),
        created_at=webhook.created_at,
    )


def delivery_view(delivery: WebhookDelivery) -> DeliveryView:
    return DeliveryView(
        id=delivery.id,
        event_id=delivery.event_id,
        event_type=delivery.event_type,
        job_id=delivery.job_id,
        state=delivery.state,
        attempts=[
            DeliveryAttemptView(
                attempt=a.attempt,
                started_at=a.started_at,
                finished_at=a.finished_at,
                status_code=a.status_code,
                error=a.error,
            )
            for a in delivery.attempts
        ],
        created_at=delivery.created_at,
        next_attempt_at=delivery.next_attempt_at,
    )


class Webhooks:
    def __init__(self, *, storage: Storage, env: str) -> None:
        self.store = WebhookStore(storage, env)

    async def create(self, ctx: RequestContext, body: CreateWebhookRequest) -> CreatedWebhook:
        problem = destination_problem(body.url)
        if problem is not None:
            raise InvalidDestination(f"url: {problem}")
        existing = await self.store.list(ctx.tenant_id)
        if len(existing) >= MAX_WEBHOOKS_PER_TENANT:
            raise Conflict(f"a tenant can have at most {MAX_WEBHOOKS_PER_TENANT} webhooks")
        events = [e for e in WEBHOOK_EVENTS if e in body.events]  # the fixed order, no repeats
        webhook = Webhook(
            id=new_webhook_id(),
            tenant_id=ctx.tenant_id,
            url=body.url,
            events=events,
            secret=new_secret(),
            created_at=utcnow(),
        )
        try:
            await self.store.put(webhook)
        except PreconditionFailed:  # 96 random bits collided: say so rather than overwrite
            raise Conflict("the webhook could not be created; try again") from None
        log.info("webhook %s registered for %s", webhook.id, ", ".join(events))
        return CreatedWebhook(**webhook_view(webhook).model_dump(), secret=webhook.secret)

    async def list(self, ctx: RequestContext) -> WebhookList:
        return WebhookList(webhooks=[webhook_view(w) for w in await self.store.list(ctx.tenant_id)])

    async def delete(self, ctx: RequestContext, webhook_id: str) -> None:
        if not await self.store.delete(ctx.tenant_id, webhook_id):
            raise WebhookNotFound(webhook_id)
        log.info("webhook %s removed", webhook_id)

    async def deliveries(self, ctx: RequestContext, webhook_id: str, limit: int) -> DeliveryList:
        if not 1 <= limit <= MAX_DELIVERIES_LIMIT:
            raise InvalidInput("limit", f"between 1 and {MAX_DELIVERIES_LIMIT}")
        if await self.store.get(ctx.tenant_id, webhook_id) is None:
            raise WebhookNotFound(webhook_id)
        found = await self.store.deliveries(ctx.tenant_id, webhook_id, limit)
        return DeliveryList(deliveries=[delivery_view(d) for d in found])

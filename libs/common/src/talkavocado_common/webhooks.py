"""Webhooks: what a tenant registers and what the notify service records of each delivery.

The API writes registrations; the notify service reads them, signs and sends deliveries, and
writes the delivery log, which the API reads back. Everything lives in object storage:

| key | what |
|---|---|
| `{env}/{tenantId}/_webhooks/{webhookId}/webhook.json` | the registration (URL, events, secret) |
| `{env}/{tenantId}/_webhooks/{webhookId}/deliveries/{deliveryId}.json` | one delivery: its body, every attempt, its state |
| `{env}/_webhook-retries/{tenantId}/{webhookId}/{deliveryId}` | the index of pending deliveries (empty objects) |

`_webhooks` cannot be a job id (job ids start with a letter or digit), so the job list never reads
it; the retry index, like the index of active jobs, sits beside the tenants (no tenant id starts
with `_`).
"""

from __future__ import annotations

import asyncio
import base64
import builtins
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from pydantic import Field, ValidationError

from .models import ContractModel
from .storage import NotFound, Storage
from .storage.keys import SEGMENT_RE, InvalidKey, _validate_name, build_key, validate_tenant_id

log = logging.getLogger(__name__)

# The events a webhook can subscribe to: a job's terminal statuses (jobs.status).
WebhookEvent = Literal["job.completed", "job.failed", "job.cancelled"]
WEBHOOK_EVENTS: tuple[WebhookEvent, ...] = ("job.completed", "job.failed", "job.cancelled")

WEBHOOK_ID_PATTERN = r"^wh_[0-9a-f]{24}$"
WEBHOOK_ID_MAX = 27
URL_MAX = 2048
SECRET_PREFIX = "whsec_"
SECRET_BYTES = 24
WEBHOOKS_SEGMENT = "_webhooks"
RETRIES_SEGMENT = "_webhook-retries"

DeliveryState = Literal["pending", "delivered", "failed", "refused", "abandoned"]
FINAL_STATES: frozenset[str] = frozenset({"delivered", "failed", "refused", "abandoned"})


def new_webhook_id() -> str:
    return f"wh_{secrets.token_hex(12)}"


def new_secret() -> str:
    """A signing secret in the Standard Webhooks form: `whsec_` + base64 of random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def secret_bytes(secret: str) -> bytes:
    """The HMAC key a `whsec_…` secret stands for (Standard Webhooks: base64-decoded)."""
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)


class Webhook(ContractModel):
    """A tenant's registration. The secret is stored (the notify service signs with it) but the
    API shows it only in the answer that created it."""

    id: str = Field(pattern=WEBHOOK_ID_PATTERN)
    tenant_id: str
    url: str = Field(max_length=URL_MAX)
    events: list[WebhookEvent] = Field(min_length=1)
    secret: str
    created_at: datetime


class DeliveryAttempt(ContractModel):
    attempt: int = Field(ge=1)
    started_at: datetime
    finished_at: datetime
    status_code: int | None = Field(None, description="The receiver's HTTP status, if it answered.")
    error: str | None = Field(
        None, description="Why there was no 2xx answer: timeout, refused destination, ..."
    )


class WebhookDelivery(ContractModel):
    """One event for one webhook, with every attempt to deliver it. `id` is the `webhook-id`
    header: derived from the event and the webhook, so a duplicate event shares it."""

    id: str
    webhook_id: str
    tenant_id: str
    event_id: str
    event_type: WebhookEvent
    job_id: str
    body: str = Field(description="The JSON body, the same on every attempt (it is signed).")
    state: DeliveryState = "pending"
    attempts: list[DeliveryAttempt] = Field(default_factory=list)
    created_at: datetime
    next_attempt_at: datetime | None = None
    lease_until: datetime | None = Field(
        None, description="A notify replica is sending it until then; the others leave it."
    )


@dataclass(frozen=True)
class WebhookKeys:
    """The keys of one tenant's webhooks; construction validates the env and tenant."""

    env: str
    tenant_id: str

    def __post_init__(self) -> None:
        _validate_name("env", self.env)
        validate_tenant_id(self.tenant_id)

    @property
    def prefix(self) -> str:
        return f"{self.env}/{self.tenant_id}/{WEBHOOKS_SEGMENT}/"

    def registration(self, webhook_id: str) -> str:
        _segment("webhook id", webhook_id)
        return build_key(self.env, self.tenant_id, WEBHOOKS_SEGMENT, webhook_id, "webhook.json")

    def deliveries(self, webhook_id: str) -> str:
        _segment("webhook id", webhook_id)
        return build_key(self.env, self.tenant_id, WEBHOOKS_SEGMENT, webhook_id, "deliveries") + "/"

    def delivery(self, webhook_id: str, delivery_id: str) -> str:
        _segment("webhook id", webhook_id)
        _segment("delivery id", delivery_id)
        return build_key(
            self.env,
            self.tenant_id,
            WEBHOOKS_SEGMENT,
            webhook_id,
            "deliveries",
            f"{delivery_id}.json",
        )

    def pending(self, webhook_id: str, delivery_id: str) -> str:
        """The delivery's entry in the index of pending deliveries (outside the tenant)."""
        self.delivery(webhook_id, delivery_id)  # validates both ids as key segments
        return f"{retries_prefix(self.env)}{self.tenant_id}/{webhook_id}/{delivery_id}"


def _segment(kind: str, value: str) -> str:
    """An id that is one key segment (never a path of its own)."""
    if not isinstance(value, str) or "/" in value or not SEGMENT_RE.fullmatch(value):
        raise InvalidKey(f"invalid {kind} {value!r}")
    return value


def retries_prefix(env: str) -> str:
    _validate_name("env", env)
    return f"{env}/{RETRIES_SEGMENT}/"


@dataclass(frozen=True)
class PendingRef:
    """A delivery the index of pending deliveries names."""

    keys: WebhookKeys
    webhook_id: str
    delivery_id: str

    @property
    def index_key(self) -> str:
        return self.keys.pending(self.webhook_id, self.delivery_id)

    @property
    def record_key(self) -> str:
        return self.keys.delivery(self.webhook_id, self.delivery_id)


def parse_pending_key(key: str) -> PendingRef | None:
    """The delivery an index key names, or None for anything malformed (skipped, never
    followed outside its prefix)."""
    parts = key.split("/")
    if len(parts) != 5 or parts[1] != RETRIES_SEGMENT:
        return None
    try:
        ref = PendingRef(WebhookKeys(parts[0], parts[2]), parts[3], parts[4])
        ref.record_key  # noqa: B018 - validates the ids
    except ValueError:
        return None
    return ref


class WebhookStore:
    """Registrations and delivery logs of a tenant's webhooks in object storage."""

    def __init__(self, storage: Storage, env: str) -> None:
        self.storage = storage
        self.env = env

    def keys(self, tenant_id: str) -> WebhookKeys:
        return WebhookKeys(self.env, tenant_id)

    async def put(self, webhook: Webhook) -> None:
        key = self.keys(webhook.tenant_id).registration(webhook.id)
        await self.storage.write_bytes(key, webhook.to_json_bytes(), if_none_match=True)

    async def get(self, tenant_id: str, webhook_id: str) -> Webhook | None:
        try:
            data, _ = await self.storage.read_bytes(self.keys(tenant_id).registration(webhook_id))
        except NotFound:
            return None
        try:
            return Webhook.from_json_bytes(data)
        except ValidationError:
            log.error("webhook %s of %s does not validate; ignored", webhook_id, tenant_id)
            return None

    async def list(self, tenant_id: str) -> list[Webhook]:
        """The tenant's webhooks, oldest first (a registration that does not validate is
        skipped)."""
        ids = await self.storage.list_children(self.keys(tenant_id).prefix)
        found = await asyncio.gather(*(self.get(tenant_id, i) for i in ids if i.startswith("wh_")))
        return sorted((w for w in found if w is not None), key=lambda w: (w.created_at, w.id))

    async def delete(self, tenant_id: str, webhook_id: str) -> bool:
        """Remove the registration and its delivery log; False if there was none."""
        keys = self.keys(tenant_id)
        if await self.get(tenant_id, webhook_id) is None:
            return False
        await self.storage.delete(keys.registration(webhook_id))
        for key in await self.storage.list(keys.deliveries(webhook_id)):
            await self.storage.delete(key)
        return True

    async def deliveries(
        self, tenant_id: str, webhook_id: str, limit: int
    ) -> builtins.list[WebhookDelivery]:
        """The webhook's deliveries, newest first, at most `limit`."""
        keys = await self.storage.list(self.keys(tenant_id).deliveries(webhook_id))
        records = await asyncio.gather(*(self._delivery(k) for k in keys if k.endswith(".json")))
        found = [r for r in records if r is not None]
        found.sort(key=lambda d: (d.created_at, d.id), reverse=True)
        return found[:limit]

    async def _delivery(self, key: str) -> WebhookDelivery | None:
        try:
            data, _ = await self.storage.read_bytes(key)
            return WebhookDelivery.from_json_bytes(data)
        except (NotFound, ValidationError):
            return None

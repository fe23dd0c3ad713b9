"""Where webhooks, their deliveries and the index of pending deliveries live."""

from __future__ import annotations

import pytest

from talkavocado_common.storage import InvalidKey
from talkavocado_common.webhooks import WebhookKeys, parse_pending_key, retries_prefix

HOOK = "wh_0123456789abcdef01234567"


def test_keys_stay_under_the_tenant_and_the_index_beside_the_tenants() -> None:
    keys = WebhookKeys("prod", "acme")
    assert keys.registration(HOOK) == f"prod/acme/_webhooks/{HOOK}/webhook.json"
    assert keys.delivery(HOOK, "msg_1") == f"prod/acme/_webhooks/{HOOK}/deliveries/msg_1.json"
    assert keys.pending(HOOK, "msg_1") == f"prod/_webhook-retries/acme/{HOOK}/msg_1"
    assert keys.pending(HOOK, "msg_1").startswith(retries_prefix("prod"))


@pytest.mark.parametrize(
    ("tenant", "webhook", "delivery"),
    [("../x", HOOK, "m"), ("acme", "..", "m"), ("acme", HOOK, "a/b"), ("_x", HOOK, "m")],
)
def test_nothing_leaves_its_prefix(tenant: str, webhook: str, delivery: str) -> None:
    with pytest.raises(InvalidKey):
        WebhookKeys("prod", tenant).pending(webhook, delivery)


def test_index_keys_parse_back_and_malformed_ones_are_skipped() -> None:
    ref = parse_pending_key(f"prod/_webhook-retries/acme/{HOOK}/msg_1")
    assert ref is not None
    assert (ref.keys.tenant_id, ref.webhook_id, ref.delivery_id) == ("acme", HOOK, "msg_1")
    assert ref.record_key == f"prod/acme/_webhooks/{HOOK}/deliveries/msg_1.json"
    for bad in (
        f"prod/_webhook-retries/acme/{HOOK}",
        f"prod/_active/acme/{HOOK}/msg_1",
        f"prod/_webhook-retries/../{HOOK}/msg_1",
        "prod/_webhook-retries/acme/..//msg_1",
    ):
        assert parse_pending_key(bad) is None

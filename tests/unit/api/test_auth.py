"""API keys: only digests kept, tenant found, bad entries named without the key."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from talkavocado_api import ApiSettings
from talkavocado_api.auth import ApiKeyRing, KeyConfigError, Principal, load_keyring

KEY = "a-long-enough-secret-key"


def test_keyring_keeps_only_digests_and_finds_the_tenant() -> None:
    ring = ApiKeyRing.parse(
        [f"tenant-a:{KEY}", "", "# comment", "tenant-b:other-key-0123456789"], source="t"
    )
    assert len(ring) == 2
    digest = hashlib.sha256(KEY.encode()).hexdigest()
    assert ring.authenticate(KEY) == Principal("tenant-a", digest[:12])
    assert ring.authenticate("other-key-0123456789") is not None
    assert ring.authenticate(KEY + "x") is None
    assert ring.authenticate("") is None
    assert KEY not in repr(ring.__dict__)


def test_prehashed_keys_and_keys_with_colons() -> None:
    digest = hashlib.sha256(b"k:with:colons-0123456789").hexdigest()
    ring = ApiKeyRing.parse(
        [f"t1:sha256:{digest.upper()}", "t2:k:with:colons-0123456789"], source="t"
    )
    assert ring.authenticate("k:with:colons-0123456789") == Principal("t2", digest[:12])


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("no-separator", "expected tenant:key"),
        ("Tenant:0123456789abcdef", "invalid tenant id"),
        ("t:short", "at least 16 characters"),
        ("t:", "expected tenant:key"),
    ],
)
def test_bad_key_entries_name_the_entry_not_the_key(line: str, message: str) -> None:
    with pytest.raises(KeyConfigError, match=message) as caught:
        ApiKeyRing.parse(["# header", line], source="API_KEYS")
    assert "entry 2" in str(caught.value)
    assert "0123456789abcdef" not in str(caught.value)


def test_no_keys_at_all_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(KeyConfigError, match="no API keys configured"):
        load_keyring(ApiSettings(keys=""))
    with pytest.raises(KeyConfigError, match="cannot read it"):
        load_keyring(ApiSettings(keys="", keys_file=tmp_path / "missing"))

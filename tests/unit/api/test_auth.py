"""API keys: only digests kept, tenant found, bad entries named without the key."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from talkavocado_api import ApiSettings
from talkavocado_api.auth import ApiKeyRing, KeyConfigError, Principal, load_keyring
from talkavocado_common.api_keys import WeakKey, check_key, key_bits, new_key

KEY = "G6VlgUJuthgEpxcSZYQMvm7fr0s2T0CdKw1IX8TBV-c"
OTHER = "dFRAk084sekEDBa-IbyBR24b6DRXLftTgNGDBSqmiyI"


def test_keyring_keeps_only_digests_and_finds_the_tenant() -> None:
    ring = ApiKeyRing.parse([f"tenant-a:{KEY}", "", "# comment", f"tenant-b:{OTHER}"], source="t")
    assert len(ring) == 2
    digest = hashlib.sha256(KEY.encode()).hexdigest()
    assert ring.authenticate(KEY) == Principal("tenant-a", digest[:12])
    assert ring.authenticate(OTHER) is not None
    assert ring.authenticate(KEY + "x") is None
    assert ring.authenticate("") is None
    assert KEY not in repr(ring.__dict__)


def test_prehashed_keys() -> None:
    digest = hashlib.sha256(b"any:key:whoever:hashed:it").hexdigest()
    ring = ApiKeyRing.parse([f"t1:sha256:{digest.upper()}"], source="t")
    assert ring.authenticate("any:key:whoever:hashed:it") == Principal("t1", digest[:12])


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("no-separator", "expected tenant:key"),
        ("Tenant:0123456789abcdef", "invalid tenant id"),
        ("t:short", "at least 128 bits"),
        # 16+ characters used to be enough: not any more.
        ("t:0123456789abcdef", "at least 128 bits"),
        ("t:k:with:colons-0123456789abcdef", "base64url .* or hexadecimal"),
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


# --- key strength (talkavocado_common.api_keys) ------------------------------------------------


@pytest.mark.parametrize(
    "key",
    [
        "dev-key-change-me",  # the README's old example
        "e2e-dev-key-0123456789abcdef",  # the old e2e key: long enough, and a placeholder
        "integration-key-0123456789",  # a counting run
        "0123456789abcdef0123456789abcdef",  # 32 hex, counting
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        "abababababababababababababababababababab",  # 40 hex, 2 distinct characters
        "Xq7-Xq7-Xq7-Xq7-Xq7-Xq7-",  # 24 base64url, 4 distinct characters
        "ChangeMe_4f9a8b7c6d5e4f3a2b1c0d",
        "my_password_is_very_long_indeed_42",
        "f" * 31 + "0",
        "ThisKeyHas22Chars_but",  # 21: 126 bits
        "spaces are not part of any key alphabet",
        "ünïcödé-ünïcödé-ünïcödé-ünïcödé",
    ],
)
def test_weak_keys_are_refused(key: str) -> None:
    with pytest.raises(WeakKey):
        check_key(key)
    with pytest.raises(KeyConfigError, match="API_KEYS entry 1"):
        ApiKeyRing.parse([f"t:{key}"], source="API_KEYS")


@pytest.mark.parametrize(
    "key",
    [
        KEY,  # secrets.token_urlsafe(32)
        "9f86d081884c7d659a2feaa0c55ad015",  # secrets.token_hex(16): 32 hex = 128 bits
        "9F86D081884C7D659A2FEAA0C55AD015",
        "Zq3_kP9-wX2mRt7vLb4nYc",  # 22 base64url = 132 bits
    ],
)
def test_random_keys_of_128_bits_are_accepted(key: str) -> None:
    assert check_key(key) == key
    assert key_bits(key) >= 128


def test_new_keys_are_random_and_strong() -> None:
    keys = {new_key() for _ in range(200)}
    assert len(keys) == 200
    for key in keys:
        assert check_key(key) == key
        assert key_bits(key) == 6 * 43


def test_mixed_case_hex_is_base64url() -> None:
    assert key_bits("9f86d081884C7D659a2feaa0c55ad015") == 6 * 32  # not 4 bits a character

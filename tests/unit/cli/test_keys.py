"""`avocado keys new` prints keys the API accepts; `avocado up --dev-key` refuses weak ones."""

from __future__ import annotations

import hashlib

import pytest

from talkavocado_cli.main import main
from talkavocado_common.api_keys import check_key


def test_keys_new_prints_a_fresh_strong_key(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["keys", "new"]) == 0
    first = capsys.readouterr().out.strip()
    assert main(["keys", "new"]) == 0
    second = capsys.readouterr().out.strip()
    assert first != second
    for key in (first, second):
        assert check_key(key) == key
        assert len(key) == 43  # 256 bits, base64url


def test_keys_new_for_a_tenant_prints_the_entry_and_its_hash(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["keys", "new", "--tenant", "demo-tenant"]) == 0
    out, err = capsys.readouterr()
    tenant, _, key = out.strip().partition(":")
    assert tenant == "demo-tenant"
    assert check_key(key) == key
    assert f"demo-tenant:sha256:{hashlib.sha256(key.encode()).hexdigest()}" in err
    assert main(["keys", "new", "--tenant", "Not A Tenant"]) == 2


@pytest.mark.parametrize("key", ["short", "0123456789abcdef", "demo-dev-key-0123456789abcdef"])
def test_up_refuses_a_weak_dev_key_before_starting_anything(
    capsys: pytest.CaptureFixture[str], key: str
) -> None:
    assert main(["up", "--dev-key", key]) == 2
    assert "--dev-key" in capsys.readouterr().err


def test_a_new_key_never_reads_as_a_command_line_option() -> None:
    from talkavocado_common.api_keys import new_key

    # One base64url character in 64 is '-': over 2000 draws a key would start with one.
    assert all(new_key()[0].isalnum() for _ in range(2000))

"""Which addresses a webhook may reach, and the transport's check at connect time."""

from __future__ import annotations

import pytest

from talkavocado_notify.policy import first_refusal, refusal
from talkavocado_notify.transport import DestinationRefused, GuardedBackend, Sender

PUBLIC = ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "93.184.215.14"]
PRIVATE = [
    "127.0.0.1",
    "127.8.9.10",
    "::1",
    "10.1.2.3",
    "172.16.0.1",
    "192.168.1.1",
    "100.64.0.1",  # CGNAT
    "fd12:3456::1",  # unique local
    "::ffff:127.0.0.1",  # IPv4-mapped loopback
    "::ffff:10.0.0.1",
    "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
    "2002:7f00:1::1",  # 6to4 of 127.0.0.1
]
ALWAYS = [
    "0.0.0.0",
    "::",
    "169.254.169.254",  # cloud metadata
    "fe80::1",
    "fe80::1%eth0",
    "224.0.0.1",
    "ff02::1",
    "255.255.255.255",
    "240.0.0.1",
    "::ffff:169.254.169.254",
]


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_are_allowed(address: str) -> None:
    assert refusal(address, allow_private=False) is None


@pytest.mark.parametrize("address", PRIVATE)
def test_private_and_loopback_need_the_setting(address: str) -> None:
    reason = refusal(address, allow_private=False)
    assert reason is not None
    assert "NOTIFY_ALLOW_PRIVATE_DESTINATIONS" in reason
    assert refusal(address, allow_private=True) is None


@pytest.mark.parametrize("address", ALWAYS)
def test_link_local_multicast_unspecified_and_reserved_are_always_refused(address: str) -> None:
    assert refusal(address, allow_private=False) is not None
    assert refusal(address, allow_private=True) is not None


def test_reasons_name_the_kind() -> None:
    assert refusal("127.0.0.1", allow_private=False) == (
        "127.0.0.1 is a loopback address (NOTIFY_ALLOW_PRIVATE_DESTINATIONS is off)"
    )
    assert refusal("169.254.169.254", allow_private=True) == (
        "169.254.169.254 is a link-local address"
    )
    assert refusal("not-an-ip", allow_private=True) == "'not-an-ip' is not an IP address"


def test_a_host_is_refused_if_any_of_its_addresses_is() -> None:
    assert first_refusal(["8.8.8.8", "10.0.0.1"], allow_private=False) is not None
    assert first_refusal(["8.8.8.8", "1.1.1.1"], allow_private=False) is None
    assert first_refusal([], allow_private=True) == "the host resolves to no address"


async def test_the_backend_checks_what_the_host_resolves_to_when_it_connects() -> None:
    asked: list[tuple[str, int]] = []

    async def rebinding(host: str, port: int) -> list[str]:
        asked.append((host, port))
        return ["127.0.0.1"]

    backend = GuardedBackend(allow_private=False, resolver=rebinding)
    with pytest.raises(DestinationRefused, match=r"hooks\.example\.com refused: 127\.0\.0\.1"):
        await backend.connect_tcp("hooks.example.com", 443)
    assert asked == [("hooks.example.com", 443)]


async def test_a_refused_destination_is_an_attempt_result_not_retried() -> None:
    async def private(host: str, port: int) -> list[str]:
        return ["10.0.0.7"]

    sender = Sender(allow_private=False, timeout_seconds=2, resolver=private)
    try:
        result = await sender.send(
            "https://hooks.example.com/x", "whsec_" + "A" * 32, "msg_1", b"{}"
        )
    finally:
        await sender.aclose()
    assert result.refused
    assert result.status_code is None
    assert result.error is not None
    assert "10.0.0.7 is a private address" in result.error

"""free_port with a range of its own (what each pytest-xdist worker gets): ports of the range,
handed out in turn, skipping one something already listens on."""

from __future__ import annotations

import socket

import pytest

from talkavocado_common.kafka import BrokerError, free_port
from talkavocado_common.kafka.broker import PORT_RANGE_ENV


def listening_range(monkeypatch: pytest.MonkeyPatch, size: int) -> tuple[socket.socket, int]:
    """A socket listening on the first port of a range of `size` ports (found free now)."""
    for low in range(32000, 32760, size):  # between the workers' ranges and the kernel's
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.bind(("127.0.0.1", low))
        except OSError:
            sock.close()
            continue
        sock.listen()
        monkeypatch.setenv(PORT_RANGE_ENV, f"{low}-{low + size - 1}")
        return sock, low
    raise AssertionError("no free port range to test with")


def test_ports_of_the_range_in_turn_never_the_one_in_use(monkeypatch: pytest.MonkeyPatch) -> None:
    taken, low = listening_range(monkeypatch, 4)
    with taken:
        ports = [free_port() for _ in range(6)]
    assert set(ports) <= {low + 1, low + 2, low + 3}
    assert len(set(ports[:3])) == 3  # three calls in a row, three different ports


def test_a_range_with_no_free_port_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    taken, _ = listening_range(monkeypatch, 1)
    with taken, pytest.raises(BrokerError, match="no free port"):
        free_port()


def test_without_a_range_the_kernel_picks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PORT_RANGE_ENV, raising=False)
    port = free_port()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", port))  # free indeed

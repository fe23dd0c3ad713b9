"""Failed authentications are throttled per client: the window logic alone, then through the
API (429 with Retry-After, the key not even checked while blocked, other clients unaffected)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from talkavocado_api.auth_throttle import Blocked, FailedAuthThrottle

from .support import KEY_A, TENANT_A, build_api, make_settings

# --- the window, no HTTP ------------------------------------------------------------------------


def test_limit_failures_in_the_window_block_until_the_oldest_ages_out() -> None:
    throttle = FailedAuthThrottle(3, 60.0)
    for t in (0.0, 10.0, 20.0):
        assert throttle.blocked("1.2.3.4", t) is None
        throttle.record_failure("1.2.3.4", t)
    assert throttle.blocked("1.2.3.4", 20.0) == Blocked(40)  # the failure at 0 ages out at 60
    assert throttle.blocked("1.2.3.4", 59.5) == Blocked(1)  # whole seconds, at least one
    assert throttle.blocked("1.2.3.4", 60.0) is None
    assert throttle.blocked("5.6.7.8", 20.0) is None  # per client


def test_a_sliding_window_not_a_fixed_one() -> None:
    throttle = FailedAuthThrottle(2, 10.0)
    throttle.record_failure("c", 0.0)
    throttle.record_failure("c", 9.0)
    assert throttle.blocked("c", 9.5) == Blocked(1)
    assert throttle.blocked("c", 10.0) is None  # 0.0 left the window, 9.0 is still in it
    throttle.record_failure("c", 10.0)
    assert throttle.blocked("c", 18.0) == Blocked(1)
    assert throttle.blocked("c", 19.0) is None


def test_clients_with_old_failures_are_forgotten() -> None:
    throttle = FailedAuthThrottle(2, 10.0)
    throttle.record_failure("c", 0.0)
    assert len(throttle) == 1
    assert throttle.blocked("c", 10.0) is None
    assert len(throttle) == 0


def test_memory_is_bounded_by_max_clients() -> None:
    throttle = FailedAuthThrottle(2, 10.0, max_clients=3)
    for n in range(3):
        throttle.record_failure(f"old-{n}", 0.0)
    throttle.record_failure("old-0", 1.0)  # failed again: now the most recent
    throttle.record_failure("new", 5.0)  # full, none aged out: the least recent goes
    assert len(throttle) == 3
    assert throttle.blocked("old-1", 5.0) is None
    throttle.record_failure("old-0", 6.0)
    assert throttle.blocked("old-0", 6.0) == Blocked(5)  # failures at 1 and 6 (2 kept)
    throttle.record_failure("newer", 20.0)  # every earlier failure aged out: all forgotten
    assert len(throttle) == 1


@pytest.mark.parametrize(("limit", "window", "clients"), [(0, 1.0, 1), (1, 0.0, 1), (1, 1.0, 0)])
def test_nonsense_limits_are_refused(limit: int, window: float, clients: int) -> None:
    with pytest.raises(ValueError, match="throttle needs"):
        FailedAuthThrottle(limit, window, max_clients=clients)


# --- through the API --------------------------------------------------------------------------


def client(app: object, key: str | None, ip: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(ip, 40000))  # type: ignore[arg-type]
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.AsyncClient(transport=transport, base_url="http://api.test", headers=headers)


async def test_wrong_keys_from_one_client_get_429_with_retry_after(tmp_path: Path) -> None:
    api = build_api(tmp_path, make_settings(auth_failure_limit=3, auth_failure_window_seconds=60.0))
    now = [1000.0]
    api.app.state.auth_clock = lambda: now[0]
    params = {"tenantId": TENANT_A}
    async with (
        client(api.app, "x" * 43, "203.0.113.7") as guesser,
        client(api.app, KEY_A, "203.0.113.7") as same_ip_right_key,
        client(api.app, KEY_A, "198.51.100.1") as other,
        client(api.app, None, "192.0.2.9") as anonymous,
    ):
        for _ in range(3):
            assert (await guesser.get("/jobs", params=params)).status_code == 401
        blocked = await guesser.get("/jobs", params=params)
        assert blocked.status_code == 429
        assert blocked.headers["retry-after"] == "60"
        assert blocked.json()["error"] == "too_many_requests"
        # Blocked means the key is not checked at all: a right key from there waits too.
        assert (await same_ip_right_key.get("/jobs", params=params)).status_code == 429
        assert (await other.get("/jobs", params=params)).status_code == 200
        # No key at all guesses nothing: never counted, never blocked.
        for _ in range(5):
            assert (await anonymous.get("/jobs", params=params)).status_code == 401
        # The health endpoints need no key and are never throttled.
        assert (await guesser.get("/healthz")).status_code == 200
        now[0] += 30
        assert (await guesser.get("/jobs", params=params)).headers["retry-after"] == "30"
        now[0] += 30
        assert (await same_ip_right_key.get("/jobs", params=params)).status_code == 200


async def test_429_is_declared_on_every_operation_that_needs_a_key(tmp_path: Path) -> None:
    api = build_api(tmp_path)
    document = api.app.openapi()
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if operation.get("security"):
                assert {"401", "429"} <= set(operation["responses"]), (method, path)

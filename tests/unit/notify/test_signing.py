"""Standard Webhooks signatures: the reference vector, a hand computation, and the secrets."""

from __future__ import annotations

import base64
import hashlib
import hmac

from talkavocado_common.webhooks import SECRET_PREFIX, new_secret, secret_bytes
from talkavocado_notify.core import signature, signed_headers

# The test vector of the Standard Webhooks reference libraries (standard-webhooks/libraries).
VECTOR_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
VECTOR_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
VECTOR_TIMESTAMP = 1614265330
VECTOR_BODY = b'{"test": 2432232314}'
VECTOR_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_the_reference_vector() -> None:
    assert signature(VECTOR_SECRET, VECTOR_ID, VECTOR_TIMESTAMP, VECTOR_BODY) == VECTOR_SIGNATURE


def test_a_hand_computation() -> None:
    secret = "whsec_" + base64.b64encode(b"k" * 24).decode()
    body = b'{"type":"job.completed","data":{"jobId":"j-1"}}'
    signed = b"msg_1.1700000000." + body
    expected = base64.b64encode(hmac.new(b"k" * 24, signed, hashlib.sha256).digest()).decode()
    assert signature(secret, "msg_1", 1700000000, body) == f"v1,{expected}"


def test_any_change_changes_the_signature() -> None:
    base = signature(VECTOR_SECRET, VECTOR_ID, VECTOR_TIMESTAMP, VECTOR_BODY)
    assert signature(VECTOR_SECRET, VECTOR_ID, VECTOR_TIMESTAMP + 1, VECTOR_BODY) != base
    assert signature(VECTOR_SECRET, "msg_other", VECTOR_TIMESTAMP, VECTOR_BODY) != base
    assert signature(VECTOR_SECRET, VECTOR_ID, VECTOR_TIMESTAMP, VECTOR_BODY + b" ") != base
    assert signature(new_secret(), VECTOR_ID, VECTOR_TIMESTAMP, VECTOR_BODY) != base


def test_headers() -> None:
    headers = signed_headers(VECTOR_SECRET, VECTOR_ID, VECTOR_TIMESTAMP, VECTOR_BODY)
    assert headers["webhook-id"] == VECTOR_ID
    assert headers["webhook-timestamp"] == str(VECTOR_TIMESTAMP)
    assert headers["webhook-signature"] == VECTOR_SIGNATURE
    assert headers["content-type"] == "application/json"


def test_secrets_are_whsec_base64_of_24_random_bytes() -> None:
    secrets = {new_secret() for _ in range(20)}
    assert len(secrets) == 20
    for secret in secrets:
        assert secret.startswith(SECRET_PREFIX)
        assert len(secret_bytes(secret)) == 24

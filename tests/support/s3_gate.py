"""A gate before moto's S3 server that checks presigned URLs as S3 does: the SigV4 query
signature (recomputed with the test secret key) and the expiry. Only then is the request passed
to moto.

moto's own authentication (`INITIAL_NO_AUTH_ACTION_COUNT`) reads the Authorization header only:
it serves any URL that carries a `Signature=` parameter for an existing object, whatever the
signature or its age. A presigned-link test against moto alone therefore passes with a wrongly
signed or expired link; against this gate it fails, as it would against S3 or MinIO.

`python -m tests.support.s3_gate UPSTREAM PORT SECRET`: serves on 127.0.0.1:PORT until killed.
Presigned URLs for it are made by a client whose endpoint is the gate (STORAGE_S3_PUBLIC_ENDPOINT_URL).
"""

from __future__ import annotations

import hashlib
import hmac
import sys
import urllib.error
import urllib.request
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

ALGORITHM = "AWS4-HMAC-SHA256"


class LinkRefused(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    key = _hmac(f"AWS4{secret}".encode(), date)
    return _hmac(_hmac(_hmac(key, region), service), "aws4_request")


def expected_signature(
    secret: str, method: str, raw_path: str, raw_query: str, headers: dict[str, str]
) -> str:
    """The SigV4 query signature of a presigned request (S3: unsigned payload)."""
    params = dict(parse_qsl(raw_query, keep_blank_values=True))
    pairs = sorted(
        tuple(item.split("=", 1)) if "=" in item else (item, "")
        for item in raw_query.split("&")
        if item and not item.startswith("X-Amz-Signature=")
    )
    canonical_query = "&".join(f"{k}={v}" for k, v in pairs)
    signed = params["X-Amz-SignedHeaders"].split(";")
    canonical_headers = "".join(f"{h}:{headers.get(h, '').strip()}\n" for h in signed)
    canonical_request = "\n".join(
        [method, raw_path, canonical_query, canonical_headers, ";".join(signed), "UNSIGNED-PAYLOAD"]
    )
    _access_key, date, region, service, _ = params["X-Amz-Credential"].split("/")
    scope = f"{date}/{region}/{service}/aws4_request"
    to_sign = "\n".join(
        [
            ALGORITHM,
            params["X-Amz-Date"],
            scope,
            hashlib.sha256(canonical_request.encode()).hexdigest(),
        ]
    )
    return hmac.new(
        signing_key(secret, date, region, service), to_sign.encode(), hashlib.sha256
    ).hexdigest()


def check_presigned(
    secret: str,
    method: str,
    raw_path: str,
    raw_query: str,
    headers: dict[str, str],
    now: datetime,
) -> None:
    """Raise LinkRefused unless the request is a valid, unexpired presigned request."""
    params = dict(parse_qsl(raw_query, keep_blank_values=True))
    needed = ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires")
    if any(name not in params for name in (*needed, "X-Amz-Signature", "X-Amz-SignedHeaders")):
        raise LinkRefused("AccessDenied", "not a presigned SigV4 request")
    if params["X-Amz-Algorithm"] != ALGORITHM:
        raise LinkRefused("AccessDenied", "unsupported algorithm")
    signed_at = datetime.strptime(params["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    if (now - signed_at).total_seconds() > int(params["X-Amz-Expires"]):
        raise LinkRefused("AccessDenied", "Request has expired")
    wanted = expected_signature(secret, method, raw_path, raw_query, headers)
    if not hmac.compare_digest(wanted, params["X-Amz-Signature"]):
        raise LinkRefused("SignatureDoesNotMatch", "The request signature does not match")


def refusal(refused: LinkRefused) -> tuple[int, dict[str, str], bytes]:
    body = f"<Error><Code>{refused.code}</Code><Message>{refused.message}</Message></Error>"
    return 403, {"Content-Type": "application/xml"}, body.encode()


def forward(upstream: str, method: str, path: str) -> tuple[int, dict[str, str], bytes]:
    """moto's answer to the same request (the presigned URL is valid)."""
    request = urllib.request.Request(upstream + path, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            status, headers, data = answer.status, answer.headers, answer.read()
    except urllib.error.HTTPError as error:
        status, headers, data = error.code, error.headers, error.read()
    hop = ("transfer-encoding", "connection", "content-length")
    return status, {k: v for k, v in headers.items() if k.lower() not in hop}, data


def serve(upstream: str, port: int, secret: str) -> None:
    class Gate(BaseHTTPRequestHandler):
        def _handle(self, method: str) -> None:
            parts = urlsplit(self.path)
            headers = {k.lower(): v for k, v in self.headers.items()}
            try:
                check_presigned(secret, method, parts.path, parts.query, headers, datetime.now(UTC))
                status, answer_headers, data = forward(upstream, method, self.path)
            except LinkRefused as refused:
                status, answer_headers, data = refusal(refused)
            self.send_response(status)
            for name, value in answer_headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if method != "HEAD":
                self.wfile.write(data)

        def do_GET(self) -> None:
            self._handle("GET")

        def do_HEAD(self) -> None:
            self._handle("HEAD")

        def log_message(self, format: str, *args: object) -> None:
            return

    ThreadingHTTPServer(("127.0.0.1", port), Gate).serve_forever()


if __name__ == "__main__":
    serve(sys.argv[1], int(sys.argv[2]), sys.argv[3])

"""Signed artifact links for storage that cannot presign (a local directory): the API's own
artifact URL with `expires` and `signature` query parameters, so a browser's <video> or a
download needs no Authorization header (it cannot send one). Pure: the clock is passed in.

The signature is HMAC-SHA256 over the tenant, job, artifact path and expiry. Its secret is
derived from the configured API keys' digests, so every API replica with the same keys checks
every other's links, and replacing the keys revokes them; nothing else needs configuring.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

_CONTEXT = b"talkavocado artifact links v1\x00"


@dataclass(frozen=True)
class LinkSigner:
    secret: bytes

    @classmethod
    def from_key_digests(cls, digests: list[bytes]) -> LinkSigner:
        return cls(hashlib.sha256(_CONTEXT + b"".join(sorted(digests))).digest())

    def signature(self, tenant_id: str, job_id: str, path: str, expires: int) -> str:
        message = "\n".join((tenant_id, job_id, path, str(expires))).encode()
        return hmac.new(self.secret, message, hashlib.sha256).hexdigest()

    def valid(
        self, tenant_id: str, job_id: str, path: str, expires: int, signature: str, now: float
    ) -> bool:
        """The link was made by this API for exactly this artifact and has not expired."""
        if expires <= now:
            return False
        expected = self.signature(tenant_id, job_id, path, expires)
        return hmac.compare_digest(expected, signature.lower())

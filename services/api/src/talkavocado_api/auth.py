"""API keys: each belongs to one tenant; only their SHA-256 digests are kept in memory.

Configuration lines are `tenant:key` (hashed on load, the plain key is dropped) or
`tenant:sha256:<64 hex digits>` (already hashed, so a key file need not hold secrets).
Keys are high-entropy random strings — at least 128 bits, checked when they are loaded
(`talkavocado_common.api_keys`: 22+ base64url or 32+ hex characters, no obvious patterns;
`avocado keys new` makes one) — so one SHA-256 round is the usual choice (as for GitHub or
Stripe tokens); a slow password hash would only slow every request down. A pre-hashed entry
cannot be checked; whoever hashed it vouches for the key.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable
from dataclasses import dataclass

from talkavocado_common.api_keys import WeakKey, check_key
from talkavocado_common.storage import InvalidKey, validate_tenant_id

from .settings import ApiSettings

_HASHED = re.compile(r"^sha256:([0-9a-fA-F]{64})$")


class KeyConfigError(ValueError):
    """An API key entry that cannot be used; the message names the entry, never the key."""


@dataclass(frozen=True)
class Principal:
    """Who a request authenticated as."""

    tenant_id: str
    key_id: str  # first 12 hex digits of the key's digest: loggable, not a secret


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class _Entry:
    digest: bytes
    principal: Principal


class ApiKeyRing:
    def __init__(self, entries: Iterable[tuple[str, str]]) -> None:
        """`entries`: (tenant id, SHA-256 hex digest of the key)."""
        self._entries: list[_Entry] = []
        for tenant_id, digest in entries:
            self._entries.append(
                _Entry(bytes.fromhex(digest), Principal(tenant_id, digest[:12].lower()))
            )

    def __len__(self) -> int:
        return len(self._entries)

    def digests(self) -> list[bytes]:
        """The keys' SHA-256 digests (what signed links derive their secret from)."""
        return [entry.digest for entry in self._entries]

    @classmethod
    def parse(cls, lines: Iterable[str], *, source: str) -> ApiKeyRing:
        entries: list[tuple[str, str]] = []
        for number, raw in enumerate(lines, 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            tenant_id, sep, secret = line.partition(":")
            where = f"{source} entry {number}"
            if not sep or not secret:
                raise KeyConfigError(f"{where}: expected tenant:key")
            try:
                validate_tenant_id(tenant_id)
            except InvalidKey as exc:
                raise KeyConfigError(f"{where}: {exc}") from None
            hashed = _HASHED.fullmatch(secret)
            if hashed:
                entries.append((tenant_id, hashed.group(1).lower()))
            else:
                try:
                    check_key(secret)
                except WeakKey as exc:
                    raise KeyConfigError(f"{where}: {exc}") from None
                entries.append((tenant_id, hash_key(secret)))
        return cls(entries)

    @classmethod
    def from_settings(cls, settings: ApiSettings) -> ApiKeyRing:
        inline = settings.keys.get_secret_value()
        ring = cls.parse(inline.split(","), source="API_KEYS")
        if settings.keys_file is not None:
            try:
                text = settings.keys_file.read_text()
            except OSError as exc:
                raise KeyConfigError(f"API_KEYS_FILE: cannot read it: {exc.strerror}") from None
            ring = ring.merged(cls.parse(text.splitlines(), source="API_KEYS_FILE"))
        return ring

    def merged(self, other: ApiKeyRing) -> ApiKeyRing:
        ring = ApiKeyRing([])
        ring._entries = [*self._entries, *other._entries]
        return ring

    def authenticate(self, key: str) -> Principal | None:
        """The key's principal, or None. Compares against every digest in constant time."""
        digest = hashlib.sha256(key.encode()).digest()
        found: Principal | None = None
        for entry in self._entries:
            if hmac.compare_digest(entry.digest, digest):
                found = entry.principal
        return found


def ensure_keys(ring: ApiKeyRing) -> None:
    if not len(ring):
        raise KeyConfigError("no API keys configured: set API_KEYS or API_KEYS_FILE")


def load_keyring(settings: ApiSettings) -> ApiKeyRing:
    ring = ApiKeyRing.from_settings(settings)
    ensure_keys(ring)
    return ring

"""What an API key must be: at least 128 bits of randomness. Pure functions, shared by the API
(which refuses weaker keys at start) and the CLI (`avocado keys new`, `avocado up --dev-key`).

A key is a string over one of two alphabets, and its length gives its bits:
- hexadecimal (`0-9a-f`, one case): 4 bits a character, so at least 32 characters;
- base64url (`A-Z a-z 0-9 - _`): 6 bits a character, so at least 22 characters.
`secrets.token_urlsafe(32)` (43 characters, 256 bits) and `secrets.token_hex(16)` qualify.

Length only counts if the characters were drawn at random, so keys that plainly were not are
refused too: long runs of one character, long ascending or descending runs (`0123456789`,
`abcdef`), fewer than 8 distinct characters, or a well-known placeholder word (`change-me`,
`password`, `example`, ...). A random key fails these checks about once in a million draws
(`new_key` draws again when one does).
"""

from __future__ import annotations

import itertools
import re
import secrets

MIN_BITS = 128
HEX_RE = re.compile(r"^(?:[0-9a-f]+|[0-9A-F]+)$")
BASE64URL_RE = re.compile(r"^[A-Za-z0-9_-]+$")
MIN_HEX_CHARS = 32  # 32 x 4 bits
MIN_BASE64URL_CHARS = 22  # 22 x 6 = 132 bits
MAX_KEY_CHARS = 512
# Runs a random key practically never has (about 1e-6 for a key of the minimum length).
MAX_REPEAT_RUN = {"hex": 6, "base64url": 4}
MAX_SEQUENCE_RUN = {"hex": 7, "base64url": 5}
MIN_DISTINCT = 8
PLACEHOLDERS = (
    "changeme",
    "change-me",
    "change_me",
    "password",
    "passwd",
    "secret",
    "example",
    "dev-key",
    "devkey",
    "test-key",
    "testkey",
    "apikey",
    "api-key",
    "default",
    "letmein",
    "qwerty",
)


class WeakKey(ValueError):
    """The key does not carry 128 bits; the message says why, never the key."""


def alphabet(key: str) -> str | None:
    """The key's alphabet: "hex", "base64url" or None."""
    if HEX_RE.fullmatch(key):
        return "hex"
    if BASE64URL_RE.fullmatch(key):
        return "base64url"
    return None


def key_bits(key: str) -> int:
    """Bits a random key of this alphabet and length carries (0 outside both alphabets)."""
    return {"hex": 4, "base64url": 6, None: 0}[alphabet(key)] * len(key)


def _longest_run(key: str, step: int) -> int:
    """The longest run of characters each `step` code points from the previous one."""
    longest = run = 1
    for previous, current in itertools.pairwise(key):
        run = run + 1 if ord(current) - ord(previous) == step else 1
        longest = max(longest, run)
    return longest


def check_key(key: str) -> str:
    """`key` if it carries at least 128 bits, else WeakKey saying what is wrong."""
    if len(key) > MAX_KEY_CHARS:
        raise WeakKey(f"keys are at most {MAX_KEY_CHARS} characters")
    kind = alphabet(key)
    if kind is None:
        raise WeakKey(
            "keys are base64url (A-Z a-z 0-9 - _) or hexadecimal; generate one with "
            "`avocado keys new`"
        )
    if key_bits(key) < MIN_BITS:
        raise WeakKey(
            f"keys carry at least {MIN_BITS} bits: {MIN_BASE64URL_CHARS}+ base64url or "
            f"{MIN_HEX_CHARS}+ hex characters; generate one with `avocado keys new`"
        )
    lowered = key.lower()
    if any(word in lowered for word in PLACEHOLDERS):
        raise WeakKey("the key contains a placeholder word; generate one with `avocado keys new`")
    sequence = max(_longest_run(key, 1), _longest_run(key, -1))
    if _longest_run(key, 0) > MAX_REPEAT_RUN[kind] or sequence > MAX_SEQUENCE_RUN[kind]:
        raise WeakKey("the key has a long run of repeated or consecutive characters")
    if len(set(key.lower() if kind == "hex" else key)) < MIN_DISTINCT:
        raise WeakKey("the key has too few distinct characters to be random")
    return key


def new_key() -> str:
    """A fresh key: 256 bits from `secrets`, base64url (43 characters), starting with a letter
    or digit: one starting with '-' would read as an option on a command line
    (`avocado up --dev-key -x…`)."""
    while True:
        key = secrets.token_urlsafe(32)
        if not key[0].isalnum():
            continue
        try:
            return check_key(key)
        except WeakKey:  # pragma: no cover - about once in a million draws
            continue

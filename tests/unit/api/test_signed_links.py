"""Signed artifact links (signed_links.py): bound to tenant, job, path and expiry; the secret
follows the configured keys, whatever their order; an expired link is refused."""

from __future__ import annotations

import hashlib

from talkavocado_api.signed_links import LinkSigner

KEYS = [hashlib.sha256(k).digest() for k in (b"key-one", b"key-two")]


def test_a_signature_holds_for_exactly_what_it_signed_until_it_expires() -> None:
    signer = LinkSigner.from_key_digests(KEYS)
    signature = signer.signature("acme", "job-1", "renders/final.mp4", 1000)
    assert signer.valid("acme", "job-1", "renders/final.mp4", 1000, signature, now=999.0)
    assert signer.valid("acme", "job-1", "renders/final.mp4", 1000, signature.upper(), now=0)
    assert not signer.valid("acme", "job-1", "renders/final.mp4", 1000, signature, now=1000.0)
    for tenant, job, path, expires in [
        ("other", "job-1", "renders/final.mp4", 1000),
        ("acme", "job-2", "renders/final.mp4", 1000),
        ("acme", "job-1", "renders/preview.mp4", 1000),
        ("acme", "job-1", "renders/final.mp4", 2000),  # a longer life is not for the taking
    ]:
        assert not signer.valid(tenant, job, path, expires, signature, now=0), (tenant, job, path)


def test_the_secret_follows_the_keys_not_their_order() -> None:
    one = LinkSigner.from_key_digests(KEYS)
    assert LinkSigner.from_key_digests(list(reversed(KEYS))) == one
    rotated = LinkSigner.from_key_digests([KEYS[0], hashlib.sha256(b"key-three").digest()])
    signature = one.signature("acme", "job-1", "a", 10)
    assert not rotated.valid("acme", "job-1", "a", 10, signature, now=0)

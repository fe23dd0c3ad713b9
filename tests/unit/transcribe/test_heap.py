"""The mmap threshold is pinned through glibc's mallopt (this machine's libc is glibc)."""

from __future__ import annotations

from talkavocado_transcribe.heap import pin_mmap_threshold


def test_pinning_the_mmap_threshold_succeeds_on_glibc() -> None:
    assert pin_mmap_threshold() is True

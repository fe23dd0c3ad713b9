"""Shared library of TalkAvocado: contracts as models, storage, manifest, media helpers."""

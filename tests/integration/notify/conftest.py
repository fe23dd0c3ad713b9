"""The notify service on the shared test broker."""

from tests.support.broker import kafka, kafka_bootstrap, topics  # noqa: F401

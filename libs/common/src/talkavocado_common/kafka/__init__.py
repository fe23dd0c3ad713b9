"""Kafka plumbing: the embedded broker, topic creation, publishing and consuming events."""

from .admin import TopicError, ensure_topics
from .broker import BrokerError, EmbeddedBroker, free_port, resolve_broker_bin
from .consumer import DEFAULT_FETCH_MAX_WAIT_MS, Delivery, EventConsumer, consumer_options
from .deadletter import dead_letter_event
from .headers import (
    CORRELATION_HEADER,
    TRACEPARENT_HEADER,
    child_traceparent,
    event_headers,
    header,
    new_traceparent,
    trace_id,
)
from .offsets import OffsetTracker
from .producer import KafkaPublisher, make_producer

__all__ = [
    "CORRELATION_HEADER",
    "DEFAULT_FETCH_MAX_WAIT_MS",
    "TRACEPARENT_HEADER",
    "BrokerError",
    "Delivery",
    "EmbeddedBroker",
    "EventConsumer",
    "KafkaPublisher",
    "OffsetTracker",
    "TopicError",
    "child_traceparent",
    "consumer_options",
    "dead_letter_event",
    "ensure_topics",
    "event_headers",
    "free_port",
    "header",
    "make_producer",
    "new_traceparent",
    "resolve_broker_bin",
    "trace_id",
]

"""Kafka events: CloudEvents envelope, payload models per type, topic names."""

from .envelope import CloudEvent, InvalidEvent, decode, encode, new_event
from .models import (
    EVENT_TYPES,
    DeadLetter,
    JobCancelRequested,
    JobRef,
    JobRenderRequested,
    JobResumeRequested,
    JobRetryRequested,
    JobStatusChanged,
    JobSubmitted,
    StepFailed,
    StepHeartbeat,
    StepRequested,
    StepSucceeded,
)
from .topics import Topics

__all__ = [
    "EVENT_TYPES",
    "CloudEvent",
    "DeadLetter",
    "InvalidEvent",
    "JobCancelRequested",
    "JobRef",
    "JobRenderRequested",
    "JobResumeRequested",
    "JobRetryRequested",
    "JobStatusChanged",
    "JobSubmitted",
    "StepFailed",
    "StepHeartbeat",
    "StepRequested",
    "StepSucceeded",
    "Topics",
    "decode",
    "encode",
    "new_event",
]

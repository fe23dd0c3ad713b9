"""Settings of a step-service process, from environment variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from ..observability.settings import ObservabilitySettings
from ..settings import KafkaSettings, StorageSettings


class WorkerSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    metrics_host: str = Field(
        "0.0.0.0", alias="METRICS_HOST", description="Address of the /healthz + /metrics server."
    )
    metrics_port: int = Field(
        9100, ge=0, le=65535, alias="METRICS_PORT", description="Its port; 0 picks a free one."
    )
    metrics_enabled: bool = Field(
        True, alias="METRICS_ENABLED", description="Serve /healthz, /readyz and /metrics."
    )
    shutdown_grace_seconds: float = Field(
        30.0,
        ge=0,
        alias="SHUTDOWN_GRACE_SECONDS",
        description="On SIGTERM, how long the step in flight may take to finish before it is "
        "cancelled and handed back (not committed: another replica redoes it).",
    )
    heartbeat_default_seconds: float = Field(
        30.0,
        gt=0,
        alias="HEARTBEAT_DEFAULT_SECONDS",
        description="HeartbeatSeconds assumed when a step.requested carries none.",
    )
    max_in_flight: int = Field(
        1,
        ge=1,
        le=64,
        alias="WORKER_MAX_IN_FLIGHT",
        description="Steps run at once (one per "
        "partition at most, so a job's steps never overlap).",
    )
    poll_seconds: float = Field(
        0.25,
        gt=0,
        le=5,
        alias="WORKER_POLL_SECONDS",
        description="Longest wait of one poll; also how fast a finished step's partition resumes.",
    )
    create_topics: bool = Field(
        True,
        alias="WORKER_CREATE_TOPICS",
        description="Create the topics the worker uses if missing (checks partition counts).",
    )
    lag_seconds: float = Field(
        15.0,
        gt=0,
        alias="WORKER_LAG_SECONDS",
        description="How often the consumer-lag gauge is refreshed (end offset minus committed).",
    )
    watch_seconds: float = Field(
        2.0,
        gt=0,
        le=60,
        alias="WORKER_WATCH_SECONDS",
        description="How often a running step reads its job's manifest: a job that has ended "
        "(cancelled) or a step run superseded by a newer execution is stopped within this.",
    )
    scratch_dir: Path | None = Field(
        None, alias="SCRATCH_DIR", description="Where steps get their scratch directories."
    )


class StepServiceSettings(WorkerSettings):
    """Everything a step service reads: its worker settings and the shared groups. Each step
    service subclasses it (the one settings class of that service)."""

    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    storage: StorageSettings = Field(default_factory=StorageSettings)
    observability: ObservabilitySettings = Field(default_factory=ObservabilitySettings)

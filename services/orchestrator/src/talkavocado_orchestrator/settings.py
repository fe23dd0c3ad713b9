"""The orchestrator's settings (environment variables): its own and the shared groups."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from talkavocado_common.observability.settings import ObservabilitySettings
from talkavocado_common.settings import KafkaSettings, StorageSettings


class OrchestratorSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ORCHESTRATOR_", extra="ignore")

    app_id: str = Field(
        "talkavocado-orchestrator", description="Faust app id: consumer group and changelog prefix."
    )
    pipeline: Path | None = Field(
        None, description="ASL document (default: contracts/pipeline.asl.json)."
    )
    revision_pipeline: Path | None = Field(
        None,
        description="ASL document of a review revision's render (default: "
        "contracts/revision.asl.json).",
    )
    tick_seconds: float = Field(
        1.0, gt=0, description="How often deadlines and retry times are checked."
    )
    web_port: int = Field(
        6066, ge=0, description="HTTP port of /healthz and /metrics (Faust's web server)."
    )
    fetch_max_wait_ms: int | None = Field(
        None,
        ge=1,
        description="Longest wait of a consumer fetch (faust's own default is 1500); unset: "
        "KAFKA_FETCH_MAX_WAIT_MS.",
    )
    data_dir: Path = Field(Path(".cache/orchestrator"), description="Faust's local data directory.")
    command_retry_initial_seconds: float = Field(
        0.2,
        gt=0,
        description="First wait before a failed command (a manifest write, a produce) is "
        "carried out again; doubled per retry, jittered. The event stays unacknowledged.",
    )
    command_retry_max_seconds: float = Field(
        30.0, gt=0, description="The longest wait between two attempts at a failed command."
    )
    ended_row_retention_seconds: float = Field(
        3600.0,
        ge=0,
        description="How long the row of a completed or cancelled job stays in the job-state "
        "table (a duplicate job.submitted within it is ignored); then it is deleted.",
    )
    failed_row_retention_seconds: float = Field(
        7 * 24 * 3600.0,
        ge=0,
        description="How long the row of a failed job stays: `retry` resumes from the row "
        "(the failed state, the results so far); after it, from the manifest's step records.",
    )
    reconcile_seconds: float = Field(
        60.0,
        gt=0,
        description="How often the reconciler reads the index of active jobs (also once at "
        "start): jobs without a row are resumed, lost submissions published again.",
    )
    resubmit_grace_seconds: float = Field(
        30.0,
        ge=0,
        description="How long a job may stay pending after its upload was recorded before the "
        "reconciler publishes its submission again.",
    )

    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    storage: StorageSettings = Field(default_factory=StorageSettings)
    observability: ObservabilitySettings = Field(default_factory=ObservabilitySettings)

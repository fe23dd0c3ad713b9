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
    tick_seconds: float = Field(
        1.0, gt=0, description="How often deadlines and retry times are checked."
    )
    web_port: int = Field(
        6066, ge=0, description="HTTP port of /healthz and /metrics (Faust's web server)."
    )
    fetch_max_wait_ms: int = Field(
        100, ge=1, description="Longest wait of a consumer fetch (faust's own default is 1500)."
    )
    data_dir: Path = Field(Path(".cache/orchestrator"), description="Faust's local data directory.")

    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    storage: StorageSettings = Field(default_factory=StorageSettings)
    observability: ObservabilitySettings = Field(default_factory=ObservabilitySettings)

"""Settings shared by every service, from environment variables (pydantic-settings).

Each service composes these with its own settings class; the README lists every variable.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class KafkaSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KAFKA_", extra="ignore")

    bootstrap_servers: str = Field("127.0.0.1:9092", description="Comma-separated host:port list.")
    topic_prefix: str = Field("talkavocado.", description="Prefix of every topic name.")
    partitions: int = Field(
        3, ge=1, description="Partitions of every topic (they bound parallelism)."
    )
    replication_factor: int = Field(1, ge=1)
    idempotence: bool = Field(
        True, description="Idempotent producer; off for brokers without InitProducerId (Tansu)."
    )
    session_timeout_ms: int = Field(10_000, ge=1_000)
    heartbeat_interval_ms: int = Field(3_000, ge=100)
    max_poll_interval_ms: int = Field(300_000, ge=10_000)

    def to_env(self) -> dict[str, str]:
        """The environment variables that give a child process these same settings."""
        return {
            f"KAFKA_{name.upper()}": str(value).lower() if isinstance(value, bool) else str(value)
            for name, value in self.model_dump().items()
        }


class StorageSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore")

    storage_url: str = Field(
        "storage", alias="STORAGE_URL", description="Directory or URL of the object store."
    )
    env: str = Field(
        "local", alias="TALKAVOCADO_ENV", description="Environment part of storage keys."
    )

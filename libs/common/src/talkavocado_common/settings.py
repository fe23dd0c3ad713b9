"""Settings shared by every service, from environment variables (pydantic-settings).

Each service composes these with its own settings class; the README lists every variable.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

if TYPE_CHECKING:
    from .storage.s3 import S3Options


class KafkaSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KAFKA_", extra="ignore")

    bootstrap_servers: str = Field("127.0.0.1:9092", description="Comma-separated host:port list.")
    topic_prefix: str = Field("talkavocado.", description="Prefix of every topic name.")
    partitions: int = Field(
        3, ge=1, description="Partitions of every topic (they bound parallelism)."
    )
    replication_factor: int = Field(
        1, ge=1, description="Replicas of every topic the services create (3 on a real cluster)."
    )
    idempotence: bool = Field(
        True, description="Idempotent producer; off for brokers without InitProducerId (Tansu)."
    )
    session_timeout_ms: int = Field(
        10_000,
        ge=1_000,
        description="Consumer group session timeout: how soon a dead member is noticed.",
    )
    heartbeat_interval_ms: int = Field(
        3_000, ge=100, description="Consumer heartbeat interval (below the session timeout)."
    )
    max_poll_interval_ms: int = Field(
        300_000,
        ge=10_000,
        description="Longest gap between polls (steps run beside the poll loop, so any length works).",
    )
    fetch_max_wait_ms: int = Field(
        100,
        ge=1,
        le=10_000,
        description="Longest wait of a consumer fetch. Tansu may answer only when it runs out, "
        "so with the embedded broker it bounds each hop (20 under avocado up and in bench/ "
        "when unset; lower is quicker and costs more idle CPU).",
    )

    def to_env(self) -> dict[str, str]:
        """The environment variables that give a child process these same settings."""
        return {
            f"KAFKA_{name.upper()}": str(value).lower() if isinstance(value, bool) else str(value)
            for name, value in self.model_dump().items()
        }


class StorageSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    storage_url: str = Field(
        "storage",
        alias="STORAGE_URL",
        description="Object store: a directory, file:///path or s3://bucket/prefix.",
    )
    env: str = Field(
        "local", alias="TALKAVOCADO_ENV", description="Environment part of storage keys."
    )
    s3_endpoint_url: str | None = Field(
        None,
        alias="AWS_ENDPOINT_URL",
        description="S3 endpoint (MinIO, moto); unset: AWS for the region.",
    )
    s3_region: str | None = Field(None, alias="AWS_REGION", description="S3 region.")
    s3_access_key_id: SecretStr | None = Field(
        None,
        alias="AWS_ACCESS_KEY_ID",
        description="S3 access key; unset: boto's credential chain (IRSA, profile).",
    )
    s3_secret_access_key: SecretStr | None = Field(
        None, alias="AWS_SECRET_ACCESS_KEY", description="S3 secret key."
    )
    s3_part_bytes: int = Field(
        16 * 1024 * 1024,
        ge=5 * 1024 * 1024,
        alias="STORAGE_S3_PART_BYTES",
        description="Part size of multipart uploads (memory per upload in flight).",
    )
    s3_addressing_style: Literal["auto", "path", "virtual"] = Field(
        "auto",
        alias="STORAGE_S3_ADDRESSING_STYLE",
        description="Bucket in the path or the host name (MinIO without DNS: path).",
    )
    s3_public_endpoint_url: str | None = Field(
        None,
        alias="STORAGE_S3_PUBLIC_ENDPOINT_URL",
        description="S3 endpoint as clients reach it, for presigned links (default: "
        "AWS_ENDPOINT_URL; compose: http://localhost:9000 while services use minio:9000).",
    )
    presign_seconds: int = Field(
        3600,
        ge=1,
        le=7 * 24 * 3600,
        alias="STORAGE_PRESIGN_SECONDS",
        description="Lifetime of presigned download links (S3 only).",
    )

    def s3_options(self) -> S3Options:
        from .storage.s3 import S3Options

        def secret(value: SecretStr | None) -> str | None:
            return value.get_secret_value() if value is not None else None

        return S3Options(
            endpoint_url=self.s3_endpoint_url or None,
            region=self.s3_region or None,
            access_key_id=secret(self.s3_access_key_id),
            secret_access_key=secret(self.s3_secret_access_key),
            part_size=self.s3_part_bytes,
            addressing_style=self.s3_addressing_style,
            public_endpoint_url=self.s3_public_endpoint_url or None,
        )

"""API settings from environment variables (pydantic-settings).

| variable | meaning |
|---|---|
| `API_HOST`, `API_PORT` | where uvicorn listens (default 127.0.0.1:8000) |
| `API_KEYS` | comma list of `tenant:key` (or `tenant:sha256:<hex digest of key>`) |
| `API_KEYS_FILE` | file with one `tenant:key` / `tenant:sha256:<hex>` per line, `#` comments |
| `MAX_UPLOAD_BYTES` | largest recording accepted (declared and streamed) |
| `API_PUBLIC_URL` | base URL clients reach the API at; `uploadUrl` is relative without it |
| `API_SSE_KEEPALIVE_SECONDS` | interval of SSE keep-alive comments (and manifest re-checks) |
| `API_UPLOAD_CLAIM_TTL_SECONDS` | an upload in progress for longer may be taken over |
| `API_PROBE_TIMEOUT_SECONDS` | ffprobe time limit |
| `API_READINESS_TIMEOUT_SECONDS` | time limit of each readiness check |
| `API_MAX_CONCURRENT_UPLOADS` | uploads in progress at once in this process (429 beyond) |
| `API_MAX_CONCURRENT_UPLOADS_PER_TENANT` | uploads in progress at once for one tenant |
| `API_UPLOAD_RETRY_AFTER_SECONDS` | `Retry-After` of a refused upload |
| `API_UPLOAD_IDLE_TIMEOUT_SECONDS` | an upload whose body stalls for longer fails (slot freed) |
| `API_CREATE_RATE_PER_MINUTE`, `API_CREATE_BURST` | `POST /jobs` token bucket per tenant |
| `API_AUTH_FAILURE_LIMIT`, `API_AUTH_FAILURE_WINDOW_SECONDS` | wrong API keys one client may send per window before 429 |

plus `KAFKA_*` (KafkaSettings), `STORAGE_URL`, `TALKAVOCADO_ENV`, `AWS_*`, `STORAGE_*`
(StorageSettings) and `LOG_*`, `OTEL_*` (ObservabilitySettings); the README lists them all.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from talkavocado_common.observability.settings import ObservabilitySettings
from talkavocado_common.settings import KafkaSettings, StorageSettings

GIB = 1024**3


class ApiSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="API_", extra="ignore", populate_by_name=True)

    host: str = Field("127.0.0.1", description="Listen address (0.0.0.0 in a container).")
    port: int = Field(8000, ge=0, le=65535, description="Listen port.")
    keys: SecretStr = Field(
        SecretStr(""), description="Comma list of tenant:key or tenant:sha256:<hex>."
    )
    keys_file: Path | None = Field(None, description="File of tenant:key lines.")
    max_upload_bytes: int = Field(
        4 * GIB, gt=0, alias="MAX_UPLOAD_BYTES", description="Largest accepted recording."
    )
    max_json_body_bytes: int = Field(
        1024 * 1024, gt=0, description="Largest JSON request body (job creation, cancel)."
    )
    public_url: str | None = Field(
        None, description="Base URL clients use; makes uploadUrl absolute when set."
    )
    sse_keepalive_seconds: float = Field(
        15.0, gt=0, description="Interval of SSE keep-alive comments (and manifest re-checks)."
    )
    upload_claim_ttl_seconds: float = Field(
        6 * 3600.0, gt=0, description="An upload in progress for longer may be taken over."
    )
    probe_timeout_seconds: float = Field(
        120.0, gt=0, description="Time limit of ffprobe on an uploaded recording."
    )
    readiness_timeout_seconds: float = Field(
        2.0, gt=0, description="Time limit of each /readyz check (Kafka, storage)."
    )
    # Admission (talkavocado_api.admission): per process, so each replica has its own budget.
    max_concurrent_uploads: int = Field(
        8, ge=1, description="Uploads in progress at once in this process (each holds one S3 part)."
    )
    max_concurrent_uploads_per_tenant: int = Field(
        3, ge=1, description="Uploads in progress at once for one tenant in this process."
    )
    upload_retry_after_seconds: float = Field(
        10.0, gt=0, description="Retry-After of an upload refused for want of a free slot."
    )
    upload_idle_timeout_seconds: float = Field(
        60.0, gt=0, description="An upload whose body sends nothing for longer fails (400)."
    )
    create_rate_per_minute: float = Field(
        60.0, gt=0, description="POST /jobs per tenant per minute, on average (token bucket)."
    )
    create_burst: int = Field(
        30, ge=1, description="POST /jobs a tenant may send at once before the rate applies."
    )
    # Failed authentications per client address (talkavocado_api.auth_throttle), per process.
    auth_failure_limit: int = Field(
        10, ge=1, description="Wrong API keys one client may send per window; then 429."
    )
    auth_failure_window_seconds: float = Field(
        60.0, gt=0, description="The window of API_AUTH_FAILURE_LIMIT, in seconds."
    )

    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    storage: StorageSettings = Field(default_factory=StorageSettings)
    observability: ObservabilitySettings = Field(default_factory=ObservabilitySettings)

    @property
    def env(self) -> str:
        """The environment part of every storage key."""
        return self.storage.env

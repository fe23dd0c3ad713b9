"""The notify service's settings (environment variables): the shared groups, the worker's
process settings under the step services' names, and the delivery policy."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from talkavocado_common.observability.settings import ObservabilitySettings
from talkavocado_common.settings import KafkaSettings, StorageSettings

from .core import RetryPolicy


class NotifySettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    storage: StorageSettings = Field(default_factory=StorageSettings)
    observability: ObservabilitySettings = Field(default_factory=ObservabilitySettings)

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
        description="On SIGTERM, how long the webhook calls in flight may take to finish; past "
        "it they are cancelled and retried later (their deliveries stay pending).",
    )
    poll_seconds: float = Field(
        0.25,
        gt=0,
        le=5,
        alias="WORKER_POLL_SECONDS",
        description="Longest wait of one poll of jobs.status.",
    )
    create_topics: bool = Field(
        True,
        alias="WORKER_CREATE_TOPICS",
        description="Create jobs.status and the dlq if missing (checks partition counts).",
    )
    api_public_url: str | None = Field(
        None,
        alias="API_PUBLIC_URL",
        description="Base URL clients reach the API at: webhook bodies link to the job and its "
        "artifacts there (relative links without it).",
    )

    allow_private_destinations: bool = Field(
        False,
        alias="NOTIFY_ALLOW_PRIVATE_DESTINATIONS",
        description="Let webhooks reach loopback and private (RFC 1918, ULA, CGNAT) addresses. "
        "Link-local (cloud metadata), multicast and unspecified addresses stay refused.",
    )
    timeout_seconds: float = Field(
        10.0,
        gt=0,
        le=60,
        alias="NOTIFY_TIMEOUT_SECONDS",
        description="Time limit of one webhook call (connect to answer); past it the attempt "
        "failed and is retried.",
    )
    retry_base_seconds: float = Field(
        10.0,
        gt=0,
        alias="NOTIFY_RETRY_BASE_SECONDS",
        description="Delay before the second try of a webhook delivery; it doubles per try, "
        "with jitter (half to all of it).",
    )
    retry_max_seconds: float = Field(
        3600.0,
        gt=0,
        alias="NOTIFY_RETRY_MAX_SECONDS",
        description="Longest delay between two tries of a webhook delivery.",
    )
    retry_window_seconds: float = Field(
        86400.0,
        gt=0,
        alias="NOTIFY_RETRY_WINDOW_SECONDS",
        description="How long a webhook delivery is retried after the event before it is "
        "given up as failed.",
    )
    scan_seconds: float = Field(
        30.0,
        gt=0,
        alias="NOTIFY_SCAN_SECONDS",
        description="How often the index of pending webhook deliveries in storage is read (so "
        "retries survive a restart, and a replica's lost ones are taken over).",
    )
    max_in_flight: int = Field(
        16,
        ge=1,
        le=256,
        alias="NOTIFY_MAX_IN_FLIGHT",
        description="Webhook calls made at once.",
    )

    @property
    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(
            base_seconds=self.retry_base_seconds,
            max_seconds=self.retry_max_seconds,
            window_seconds=self.retry_window_seconds,
        )

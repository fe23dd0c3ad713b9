"""Prometheus metrics of a step worker (one registry per worker, so tests can run several)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from ..observability.metrics import LagReporter, consumer_lag_gauge

STEP_BUCKETS = (0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600)


class WorkerMetrics:
    def __init__(self, service: str, registry: CollectorRegistry | None = None) -> None:
        self.service = service
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.step_duration = Histogram(
            "talkavocado_step_duration_seconds",
            "Time from taking a step.requested to producing its result.",
            ["service", "step", "outcome"],
            buckets=STEP_BUCKETS,
            registry=r,
        )
        self.in_flight = Gauge(
            "talkavocado_steps_in_flight", "Steps running now.", ["service"], registry=r
        )
        self.failures = Counter(
            "talkavocado_step_failures_total",
            "step.failed results produced, by error code.",
            ["service", "step", "code"],
            registry=r,
        )
        self.heartbeats = Counter(
            "talkavocado_step_heartbeats_total",
            "step.heartbeat events sent.",
            ["service"],
            registry=r,
        )
        self.dead_letters = Counter(
            "talkavocado_dead_letters_total",
            "Records refused (undecodable or invalid) and sent to the dlq.",
            ["service"],
            registry=r,
        )
        self.handed_back = Counter(
            "talkavocado_steps_handed_back_total",
            "Steps cancelled at shutdown and left uncommitted for another replica.",
            ["service"],
            registry=r,
        )
        self.rebalances = Counter(
            "talkavocado_consumer_rebalances_total",
            "Partition revocations seen by the worker's consumer.",
            ["service"],
            registry=r,
        )
        self.consumer_lag = consumer_lag_gauge(r)
        self.lag = LagReporter(self.consumer_lag, service)
        self.warmup_seconds = Gauge(
            "talkavocado_worker_warmup_seconds",
            "Time the service's warm-up (e.g. loading the model) took at start.",
            ["service"],
            registry=r,
        )
        self.ready = Gauge(
            "talkavocado_worker_ready",
            "1 while /readyz answers 200 (joined its group, warmed up, not draining).",
            ["service"],
            registry=r,
        )
        self.in_flight.labels(service)
        self.ready.labels(service)

    def step_done(self, step: str, outcome: str, seconds: float) -> None:
        self.step_duration.labels(self.service, step, outcome).observe(seconds)

    def step_failed(self, step: str, code: str) -> None:
        self.failures.labels(self.service, step, code).inc()

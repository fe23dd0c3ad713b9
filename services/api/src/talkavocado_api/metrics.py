"""Prometheus metrics of one app instance, in its own registry (tests build many apps)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class ApiMetrics:
    """Metrics of one app instance, in its own registry (several apps may share a process)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "talkavocado_api_requests_total",
            "HTTP requests by route template, method and status code.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "talkavocado_api_request_duration_seconds",
            "Time to the end of the response, by route template and method.",
            ["method", "route"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "talkavocado_api_requests_in_flight",
            "Requests being served (SSE streams included).",
            registry=self.registry,
        )
        self.jobs_created = Counter(
            "talkavocado_api_jobs_created_total", "Jobs created.", registry=self.registry
        )
        self.uploads = Counter(
            "talkavocado_api_uploads_total",
            "Finished uploads by outcome.",
            ["outcome"],
            registry=self.registry,
        )
        self.upload_bytes = Counter(
            "talkavocado_api_upload_bytes_total",
            "Bytes of accepted recordings.",
            registry=self.registry,
        )
        self.events_published = Counter(
            "talkavocado_api_events_published_total",
            "Commands published, by event type.",
            ["type"],
            registry=self.registry,
        )

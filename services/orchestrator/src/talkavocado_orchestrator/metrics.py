"""The orchestrator's Prometheus metrics (the process's default registry, served by the faust
web server's /metrics page) and what one transition adds to them."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge

from talkavocado_common.asl import HEARTBEAT_TIMEOUT, TIMEOUT
from talkavocado_common.events import StepFailed
from talkavocado_common.models import JobStatus
from talkavocado_common.observability.metrics import LagReporter, consumer_lag_gauge
from talkavocado_common.pipeline.commands import Event, Tick
from talkavocado_common.pipeline.row import JobRow

SERVICE = "orchestrator"


class OrchestratorMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        r = registry if registry is not None else REGISTRY
        self.registry = r
        self.events = Counter(
            "talkavocado_orchestrator_events_total",
            "Inputs processed, by outcome (applied, ignored, dead-letter, abandoned: left "
            "unacknowledged for redelivery when a rebalance or a stop cut its retries short).",
            ["outcome"],
            registry=r,
        )
        self.retries = Counter(
            "talkavocado_orchestrator_retries_total",
            "Retries scheduled by a Retrier, by state and the error retried.",
            ["state", "error"],
            registry=r,
        )
        self.jobs_failed = Counter(
            "talkavocado_orchestrator_jobs_failed_total",
            "Jobs that ended failed, by error code and the state that failed.",
            ["code", "state"],
            registry=r,
        )
        self.transitions = Counter(
            "talkavocado_orchestrator_job_transitions_total",
            "Jobs entering a status (pending, processing, completed, failed, cancelled).",
            ["status"],
            registry=r,
        )
        self.steps_requested = Counter(
            "talkavocado_orchestrator_steps_requested_total",
            "step.requested events produced, by state and attempt kind (first or retry).",
            ["state", "kind"],
            registry=r,
        )
        self.command_retries = Counter(
            "talkavocado_orchestrator_command_retries_total",
            "Commands carried out again after they failed (storage down, a manifest conflict), "
            "by command; the event waits unacknowledged meanwhile.",
            ["command"],
            registry=r,
        )
        self.rows_removed = Counter(
            "talkavocado_orchestrator_rows_removed_total",
            "Rows of ended jobs removed from the job-state table after their retention, by status.",
            ["status"],
            registry=r,
        )
        self.jobs = Gauge(
            "talkavocado_orchestrator_jobs",
            "Jobs in the job-state table partitions this replica owns, by status "
            "(sum over replicas for the total; refreshed on each scrape).",
            ["status"],
            registry=r,
        )
        self.consumer_lag = consumer_lag_gauge(r)
        self.lag = LagReporter(self.consumer_lag, SERVICE)
        for status in JobStatus:
            self.jobs.labels(status.value)
            self.transitions.labels(status.value)

    def observe(self, old: JobRow | None, new: JobRow | None, event: Event) -> None:
        """Count what the transition old → new did (new is old when the event was ignored)."""
        if new is None or new is old:
            return
        if old is None or old.status is not new.status:
            self.transitions.labels(new.status.value).inc()
            if new.status is JobStatus.FAILED and new.error is not None:
                self.jobs_failed.labels(str(new.error.code), new.error.step or "").inc()
        if (
            old is not None
            and new.state is not None
            and old.state == new.state
            and sum(new.retries) > sum(old.retries)
        ):
            self.retries.labels(new.state, retried_error(old, event)).inc()
        if new.pending is not None and (
            old is None or old.pending is None or old.pending.step_run_id != new.pending.step_run_id
        ):
            kind = "first" if new.pending.attempt == 1 else "retry"
            self.steps_requested.labels(new.pending.state, kind).inc()

    def count_jobs(self, rows: Iterable[Any]) -> None:
        """Set the jobs-by-status gauge from the table's values (JSON rows)."""
        counts = dict.fromkeys((s.value for s in JobStatus), 0)
        for value in rows:
            status = _status_of(value)
            if status is not None:
                counts[status] = counts.get(status, 0) + 1
        for status, n in counts.items():
            self.jobs.labels(status).set(n)


def retried_error(old: JobRow, event: Event) -> str:
    """The error a retry was scheduled for: the step's error code, or the ASL timeout a Tick
    found expired (the earlier deadline; States.Timeout on a tie, as the transition does)."""
    if isinstance(event, StepFailed):
        return str(event.error.code)
    pending = old.pending
    if isinstance(event, Tick) and pending is not None:
        expired = [
            (when, name)
            for when, name in (
                (pending.deadline, TIMEOUT),
                (pending.heartbeat_deadline, HEARTBEAT_TIMEOUT),
            )
            if when is not None and event.now >= when
        ]
        if expired:
            return min(expired, key=lambda e: e[0])[1]
    return "unknown"


def _status_of(value: Any) -> str | None:
    try:
        raw = json.loads(value)
    except (TypeError, ValueError):
        return None
    status = raw.get("status") if isinstance(raw, Mapping) else None
    return status if isinstance(status, str) else None

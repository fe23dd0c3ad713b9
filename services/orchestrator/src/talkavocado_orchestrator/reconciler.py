"""The reconciler: the manifest is the record, Kafka the transport (docs/architecture.md §4).

At start and every `reconcile_seconds`, it reads the index of active jobs (talkavocado_common.
active_jobs), reads each job's manifest and carries out `decide`'s answer:

- pending with its upload recorded longer than the grace period: `job.submitted` again (the API
  stopped before publishing it, or the broker lost it; a job that has its row ignores it);
- processing: `job.resume-requested`, keyed by job id on `jobs.commands` like every command, so
  the agent that owns the job's partition decides — a live row ignores it, a missing one is
  created and resumes from the first unfinished step (transition.resume_job). The reconciler
  never touches the table itself;
- ended, or no manifest: the index entry is removed (and put back if a retry made the job
  active again meanwhile).

Each replica reconciles every indexed job: duplicates are harmless, the agents dedupe.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import UTC, datetime, timedelta

from talkavocado_common.active_jobs import (
    ENDED,
    ActiveJobs,
    Decision,
    Forget,
    Resubmit,
    Resume,
    decide,
)
from talkavocado_common.events import Topics, new_event
from talkavocado_common.manifest_store import ManifestInvalid, ManifestStore
from talkavocado_common.models import ContractModel, Manifest
from talkavocado_common.storage import JobKeys, NotFound, StorageError

from .shell import SOURCE, Send

log = logging.getLogger(__name__)


class Reconciler:
    def __init__(
        self,
        *,
        index: ActiveJobs,
        manifests: ManifestStore,
        topics: Topics,
        send: Send,
        grace: timedelta,
    ) -> None:
        self.index = index
        self.manifests = manifests
        self.topics = topics
        self.send = send
        self.grace = grace
        self.passes = 0

    async def run(self) -> None:
        """One pass that never raises (a timer's body): failures are logged, retried next time."""
        try:
            outcome = await self.reconcile()
        except Exception:
            log.exception("reconciliation failed; trying again at the next pass")
            return
        # Resuming live jobs is routine (their agents ignore it): after the pass at start, worth
        # a line only with news.
        news = self.passes == 0 or bool(set(outcome) - {"resume", "wait"})
        self.passes += 1
        log.log(
            logging.INFO if news else logging.DEBUG,
            "reconciled the active jobs: %s",
            dict(sorted(outcome.items())),
        )

    async def reconcile(self, now: datetime | None = None) -> Counter[str]:
        """One pass over the index; counts what was done (resubmit, resume, forget, wait,
        error)."""
        outcome: Counter[str] = Counter()
        for keys in await self.index.list():
            try:
                manifest = await self._manifest(keys)
                decision = decide(keys, manifest, now or datetime.now(UTC), self.grace)
                outcome[await self._carry_out(keys, decision)] += 1
            except (StorageError, ManifestInvalid) as exc:
                log.warning("job %s not reconciled: %s", keys.job_id, exc)
                outcome["error"] += 1
        return outcome

    async def _manifest(self, keys: JobKeys) -> Manifest | None:
        try:
            return await self.manifests.get(keys)
        except NotFound:
            return None

    async def _carry_out(self, keys: JobKeys, decision: Decision) -> str:
        if isinstance(decision, Resubmit):
            await self._publish(keys, "job.submitted", decision.event)
            log.warning("job %s: its submission was never seen; submitted again", keys.job_id)
            return "resubmit"
        if isinstance(decision, Resume):
            await self._publish(keys, "job.resume-requested", decision.event)
            return "resume"
        if isinstance(decision, Forget):
            await self._forget(keys, decision.reason)
            return "forget"
        return "wait"

    async def _publish(self, keys: JobKeys, event_type: str, payload: ContractModel) -> None:
        event = new_event(
            event_type, payload, source=SOURCE, subject=keys.job_id, tenant_id=keys.tenant_id
        )
        await self.send(self.topics.commands, keys.job_id, event)

    async def _forget(self, keys: JobKeys, reason: str) -> None:
        """Remove the entry once the job's end is durable; put it back if the job is active
        again by the time the entry is gone (a retry published meanwhile)."""
        await self.index.remove(keys)
        again = await self._manifest(keys)
        if again is not None and again.status not in ENDED:
            await self.index.add(keys)
            return
        log.info("job %s left the index: %s", keys.job_id, reason)

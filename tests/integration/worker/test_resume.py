"""A worker at its in-flight limit takes the next request as soon as a step ends, not when its
poll next returns: the partitions are resumed from the step's end (a job's next step is on the
same partition, so this is most of the latency a step adds)."""

from __future__ import annotations

import pytest

from talkavocado_common.events import StepHeartbeat, StepSucceeded, Topics
from talkavocado_common.settings import KafkaSettings
from talkavocado_common.storage import LocalStorage
from talkavocado_common.worker import WorkerSettings
from tests.support.jobs import create_job
from tests.support.kafka import TopicReader, count, of_type, publish, step_requested

from .conftest import Calls, Workers, make_handlers

POLL_SECONDS = 5.0  # the longest WORKER_POLL_SECONDS allows


@pytest.mark.timeout(60)
async def test_the_next_request_starts_when_a_step_ends_not_at_the_next_poll(
    kafka: KafkaSettings, topics: Topics, storage: LocalStorage, workers: Workers, calls: Calls
) -> None:
    jobs = ["job-next-1", "job-next-2"]
    for job_id in jobs:
        await create_job(storage, job_id)
    await workers.start(
        make_handlers(calls),
        settings=WorkerSettings(
            metrics_host="127.0.0.1",
            metrics_port=0,
            max_in_flight=1,  # one step at a time: every partition paused while it runs
            poll_seconds=POLL_SECONDS,
        ),
    )
    async with TopicReader(kafka, topics.results) as results:
        for job_id in jobs:
            await publish(
                kafka,
                topics.steps("audio"),
                step_requested(job_id=job_id, step="echo", context={"seconds": 0.2}),
            )
        seen = await results.wait_for(count(of_type("step.succeeded"), 2), within=30)
    done = sorted(
        (r.event.time, r.payload.job_id)
        for r in seen
        if isinstance(r.payload, StepSucceeded) and r.event is not None
    )
    first_done, first_job = done[0]
    second_started = min(
        r.event.time
        for r in seen
        if isinstance(r.payload, StepHeartbeat)
        and r.payload.job_id != first_job
        and r.event is not None
    )
    assert second_started >= first_done
    assert (second_started - first_done).total_seconds() < POLL_SECONDS / 2
    assert calls.finished == dict.fromkeys(jobs, 1)

"""What the use cases share: tenant-scoped job lookups and the command publisher."""

from __future__ import annotations

import pytest

from talkavocado_api.metrics import ApiMetrics
from talkavocado_api.ports import InMemoryPublisher
from talkavocado_api.usecases.common import JobCommands, JobStore, RequestContext
from talkavocado_api.usecases.errors import InvalidInput, JobNotFound, Unavailable
from talkavocado_common.events import JobRetryRequested

from ..support import CTX, ENV, TENANT_A, TENANT_B, Api


async def test_jobs_are_looked_up_in_the_callers_tenant_only(api: Api) -> None:
    job_id = (await api.create_job())["jobId"]
    jobs = JobStore(ENV, api.manifests)
    keys = jobs.keys(CTX, job_id)
    assert keys.tenant_id == TENANT_A
    assert (await jobs.load(keys)).job_id == job_id
    other = RequestContext(tenant_id=TENANT_B, correlation_id="c")
    with pytest.raises(JobNotFound) as caught:
        await jobs.load(jobs.keys(other, job_id))
    assert caught.value.job_id == job_id
    with pytest.raises(InvalidInput, match=r"^jobId: "):  # malformed: 400, not an unknown job
        jobs.keys(CTX, "../../etc")


async def test_commands_carry_the_callers_trace_and_failures_are_unavailable() -> None:
    publisher, metrics = InMemoryPublisher(), ApiMetrics()
    commands = JobCommands(publisher, "p.jobs.commands", metrics)
    ctx = RequestContext(
        tenant_id="t", correlation_id="corr", traceparent="00-" + "a" * 32 + "-" + "b" * 16 + "-01"
    )
    payload = JobRetryRequested(job_id="j1", tenant_id="t", env="e")
    await commands.send(ctx, "job.retry-requested", payload)
    [(topic, event)] = publisher.events
    assert topic == "p.jobs.commands"
    assert (event.subject, event.tenantid, event.correlationid) == ("j1", "t", "corr")
    assert event.traceparent == ctx.traceparent
    publisher.fail_with = ConnectionError("down")
    with pytest.raises(Unavailable, match="could not be submitted to the pipeline"):
        await commands.send(ctx, "job.retry-requested", payload)
    published = metrics.events_published.labels("job.retry-requested")._value.get()
    assert published == 1

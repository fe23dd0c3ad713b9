"""The log formatters and the log context: every line carries the same keys, and concurrent
tasks never see each other's ids."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from talkavocado_common.observability import (
    JsonFormatter,
    ObservabilitySettings,
    TextFormatter,
    bind,
    configure_logging,
    get_log_context,
    log_context,
    start_span,
)
from talkavocado_common.observability.logging import CORE_KEYS, THIRD_PARTY
from tests.support.tracing import hex_span_id, hex_trace_id

KEYS = {*CORE_KEYS, "traceId", "spanId"}
ISO_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


class Capture:
    """A handler with our formatter on a private logger (the root logger is left alone)."""

    def __init__(self, formatter: logging.Formatter) -> None:
        self.buffer = io.StringIO()
        self.handler = logging.StreamHandler(self.buffer)
        self.handler.setFormatter(formatter)
        self.logger = logging.getLogger(f"tests.observability.{id(self)}")
        self.logger.addHandler(self.handler)
        self.logger.setLevel(logging.DEBUG)
        self.logger.propagate = False

    def lines(self) -> list[str]:
        return self.buffer.getvalue().splitlines()

    def json(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.lines()]

    def close(self) -> None:
        self.logger.removeHandler(self.handler)


@pytest.fixture
def capture() -> Iterator[Capture]:
    c = Capture(JsonFormatter("audio"))
    yield c
    c.close()


def test_every_line_has_every_key_null_when_unknown(capture: Capture) -> None:
    capture.logger.info("hello %s", "world")
    capture.logger.warning("second")
    lines = capture.json()
    assert len(lines) == 2
    for line in lines:
        assert set(line) == KEYS
        assert ISO_UTC.match(line["timestamp"]), line["timestamp"]
        assert line["service"] == "audio"
        assert line["logger"] == capture.logger.name
        for key in ("correlationId", "tenantId", "jobId", "step", "traceId", "spanId"):
            assert line[key] is None
    assert [(line["level"], line["message"]) for line in lines] == [
        ("INFO", "hello world"),
        ("WARNING", "second"),
    ]


def test_the_log_context_and_explicit_extras(capture: Capture) -> None:
    with log_context(correlation_id="corr-1", tenant_id="acme", job_id="job-1", step="video-cuts"):
        capture.logger.info("inside")
        capture.logger.info("override", extra={"jobId": "job-2", "attempt": 3})
        with log_context(step="branding-layer"):
            capture.logger.info("nested")
    capture.logger.info("after")
    inside, override, nested, after = capture.json()
    assert (inside["correlationId"], inside["tenantId"], inside["jobId"], inside["step"]) == (
        "corr-1",
        "acme",
        "job-1",
        "video-cuts",
    )
    assert (override["jobId"], override["attempt"], override["tenantId"]) == ("job-2", 3, "acme")
    assert (nested["step"], nested["jobId"]) == ("branding-layer", "job-1")
    assert (after["correlationId"], after["jobId"], after["step"]) == (None, None, None)


def test_exceptions_are_one_string_field(capture: Capture) -> None:
    try:
        raise ValueError("broken input")
    except ValueError:
        capture.logger.exception("it failed")
    (line,) = capture.json()
    assert line["message"] == "it failed"
    assert isinstance(line["exception"], str)
    assert "ValueError: broken input" in line["exception"]
    assert "Traceback" in line["exception"]
    assert len(capture.lines()) == 1  # the traceback stays inside the one JSON line


def test_unserialisable_extras_become_strings(capture: Capture) -> None:
    capture.logger.info("odd", extra={"where": object(), "path": __import__("pathlib").Path("/x")})
    (line,) = capture.json()
    assert line["path"] == "/x"
    assert line["where"].startswith("<object object")


def test_trace_and_span_ids_of_the_current_span(
    capture: Capture, spans: InMemorySpanExporter
) -> None:
    with start_span("work"):
        capture.logger.info("in a span")
    capture.logger.info("outside")
    in_span, outside = capture.json()
    (span,) = spans.get_finished_spans()
    assert in_span["traceId"] == hex_trace_id(span)
    assert in_span["spanId"] == hex_span_id(span)
    assert (outside["traceId"], outside["spanId"]) == (None, None)


async def test_concurrent_tasks_keep_their_own_context(capture: Capture) -> None:
    barrier = asyncio.Barrier(3)

    async def job(n: int) -> None:
        with log_context(job_id=f"job-{n}", tenant_id=f"tenant-{n}", correlation_id=f"c-{n}"):
            await barrier.wait()  # all three contexts are set before anyone logs
            for i in range(3):
                capture.logger.info("tick %d", i)
                await asyncio.sleep(0)
            await asyncio.to_thread(capture.logger.info, "from a thread")

    await asyncio.gather(*(job(n) for n in range(3)))
    lines = capture.json()
    assert len(lines) == 12
    for line in lines:
        n = line["jobId"].removeprefix("job-")
        assert line["tenantId"] == f"tenant-{n}"
        assert line["correlationId"] == f"c-{n}"
    assert {line["jobId"] for line in lines if line["message"] == "from a thread"} == {
        "job-0",
        "job-1",
        "job-2",
    }
    assert get_log_context().job_id is None


async def test_bind_lasts_for_the_task_only(capture: Capture) -> None:
    async def served() -> None:
        bind(tenant_id="acme", job_id="job-9")
        capture.logger.info("bound")

    await asyncio.create_task(served())
    capture.logger.info("caller")
    bound, caller = capture.json()
    assert (bound["tenantId"], bound["jobId"]) == ("acme", "job-9")
    assert (caller["tenantId"], caller["jobId"]) == (None, None)


def test_a_thread_without_the_context_logs_nulls(capture: Capture) -> None:
    with log_context(job_id="job-1"):
        thread = threading.Thread(target=capture.logger.info, args=("plain thread",))
        thread.start()
        thread.join()
    (line,) = capture.json()
    assert line["jobId"] is None


def test_unknown_context_fields_are_refused() -> None:
    with pytest.raises(TypeError), log_context(user="x"):  # type: ignore[arg-type]
        pass


def test_text_format_is_one_readable_line_with_the_context() -> None:
    c = Capture(TextFormatter("render"))
    try:
        with log_context(correlation_id="corr-7", job_id="job-7", step="video-cuts"):
            c.logger.warning("cut %d regions", 4)
        c.logger.info("plain")
    finally:
        c.close()
    warned, plain = c.lines()
    assert re.match(
        r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z WARNING render tests\.observability\.\d+: "
        r"cut 4 regions \[correlationId=corr-7 jobId=job-7 step=video-cuts\]$",
        warned,
    ), warned
    assert plain.endswith(": plain")


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    third = {
        name: (
            list(logging.getLogger(name).handlers),
            logging.getLogger(name).propagate,
            logging.getLogger(name).level,
        )
        for name in THIRD_PARTY
    }
    try:
        yield
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        for name, (handlers, propagate, level) in third.items():
            logger = logging.getLogger(name)
            logger.handlers[:] = handlers
            logger.propagate = propagate
            logger.setLevel(level)


@pytest.mark.usefixtures("restore_logging")
def test_configure_logging_routes_everything_through_one_handler() -> None:
    stream = io.StringIO()
    uvicorn = logging.getLogger("uvicorn.error")
    uvicorn.addHandler(logging.StreamHandler(sys.stdout))
    uvicorn.propagate = False
    handler = configure_logging(
        "orchestrator", ObservabilitySettings(LOG_LEVEL="INFO", LOG_FORMAT="json"), stream
    )
    root = logging.getLogger()
    assert root.handlers == [handler]
    assert root.level == logging.INFO
    assert uvicorn.handlers == []
    assert uvicorn.propagate is True
    with log_context(job_id="job-3"):
        uvicorn.info("server started")
        logging.getLogger("faust.worker").info("faust says hi")
        logging.getLogger("aiokafka.consumer").info("chatty, dropped below WARNING")
        logging.getLogger("aiokafka.consumer").warning("a real problem")
        logging.getLogger("tests.anything").debug("below the level")
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [(line["logger"], line["message"]) for line in lines] == [
        ("uvicorn.error", "server started"),
        ("faust.worker", "faust says hi"),
        ("aiokafka.consumer", "a real problem"),
    ]
    for line in lines:
        assert set(line) == KEYS
        assert (line["service"], line["jobId"]) == ("orchestrator", "job-3")


@pytest.mark.usefixtures("restore_logging")
def test_configure_logging_text_and_debug() -> None:
    stream = io.StringIO()
    configure_logging("api", ObservabilitySettings(LOG_LEVEL="debug", LOG_FORMAT="text"), stream)
    logging.getLogger("tests.anything").debug("visible now")
    assert " DEBUG api tests.anything: visible now" in stream.getvalue()
    assert logging.getLogger().level == logging.DEBUG

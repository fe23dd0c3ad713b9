"""The private faust-streaming / aiokafka API that faust_adapter.py relies on, checked against
the installed classes: an upgrade that renames, removes or retypes one of them fails here, with
the attribute and the installed versions in the message, instead of in production."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, MutableMapping
from typing import Any, NoReturn

import aiokafka
import faust
import pytest
from faust.tables.manager import TableManager
from faust.tables.recovery import Recovery
from faust.transport import consumer as faust_consumer
from faust.transport.drivers import aiokafka as driver
from faust.types.tuples import TP

from talkavocado_orchestrator import faust_adapter
from talkavocado_orchestrator.faust_adapter import OrchestratorApp

VERSIONS = f"faust-streaming {faust.__version__}, aiokafka {aiokafka.__version__}"


def broken(attribute: str, problem: str) -> NoReturn:
    pytest.fail(
        f"{attribute} {problem} (installed: {VERSIONS}). "
        "talkavocado_orchestrator/faust_adapter.py relies on it: adapt the adapter to this "
        "version, or keep the faust-streaming pin in services/orchestrator/pyproject.toml.",
        pytrace=False,
    )


def require_method(cls: type, name: str) -> None:
    """`cls.name` is a method of faust's (what the adapter overrides), not only ours."""
    attribute = f"{cls.__module__}.{cls.__qualname__}.{name}"
    if not callable(getattr(cls, name, None)):
        broken(attribute, "is gone")


@pytest.fixture
async def app() -> AsyncIterator[OrchestratorApp]:
    """An OrchestratorApp that never connects (nothing is started)."""
    orchestrator = OrchestratorApp(
        "adapter-probe",
        fetch_max_wait_ms=42,
        broker="kafka://127.0.0.1:1",
        store="memory://",
        web_in_thread=False,
    )
    yield orchestrator
    # The consumer thread made an event loop of its own; nothing ran on it.
    thread = getattr(orchestrator.consumer, "_thread", None)
    loop = getattr(thread, "thread_loop", None)
    if isinstance(loop, asyncio.AbstractEventLoop) and not loop.is_closed():
        loop.close()


def test_the_hooks_the_adapter_overrides_still_exist() -> None:
    require_method(driver.AIOKafkaConsumerThread, "seek_to_committed")
    require_method(driver.AIOKafkaConsumerThread, "_ensure_consumer")
    require_method(driver.AIOKafkaConsumerThread, "_create_worker_consumer")
    require_method(driver.AIOKafkaConsumerThread, "_create_consumer")
    require_method(driver.Consumer, "_new_consumer_thread")
    require_method(faust.App, "_new_transport")
    require_method(Recovery, "on_recovery_completed")
    require_method(faust_consumer.Consumer, "stop_flow")
    if not hasattr(TableManager, "_recovery"):
        broken("faust.tables.manager.TableManager._recovery", "is gone")
    if not isinstance(getattr(driver.Transport, "Consumer", None), type):
        broken("faust.transport.drivers.aiokafka.Transport.Consumer", "is no class attribute")


async def test_faust_builds_the_consumer_through_the_hooks(app: OrchestratorApp) -> None:
    thread = getattr(app.consumer, "_thread", None)
    if not isinstance(thread, faust_adapter._ConsumerThread):
        broken(
            "faust.transport.consumer.ThreadDelegateConsumer._thread",
            f"is {type(thread).__name__}, not the thread App._new_transport and "
            "Consumer._new_consumer_thread install",
        )


async def test_aiokafka_keeps_the_fetch_wait_in_the_attribute() -> None:
    attribute = "aiokafka.AIOKafkaConsumer._fetch_max_wait_ms"
    consumer = aiokafka.AIOKafkaConsumer(bootstrap_servers="127.0.0.1:1", fetch_max_wait_ms=321)
    try:
        wait = getattr(consumer, "_fetch_max_wait_ms", None)
    finally:
        await consumer.stop()
    if wait is None:
        broken(attribute, "is gone")
    if type(wait) is not int or wait != 321:
        broken(attribute, f"is {wait!r} ({type(wait).__name__}), not the int fetch_max_wait_ms")
    # The adapter sets it after the constructor: it only counts if start() builds its fetcher
    # from it.
    if "self._fetch_max_wait_ms" not in inspect.getsource(aiokafka.AIOKafkaConsumer.start):
        broken(attribute, "is no longer read by AIOKafkaConsumer.start()")


async def test_the_fetch_wait_reaches_the_aiokafka_consumer(app: OrchestratorApp) -> None:
    thread: Any = getattr(app.consumer, "_thread", None)
    consumer = thread._create_worker_consumer(app.transport)
    try:
        assert isinstance(consumer, aiokafka.AIOKafkaConsumer)
        wait = getattr(consumer, "_fetch_max_wait_ms", None)
        if wait is None:
            broken("aiokafka.AIOKafkaConsumer._fetch_max_wait_ms", "is gone")
        if type(wait) is not int or wait != 42:
            broken(
                "aiokafka.AIOKafkaConsumer._fetch_max_wait_ms",
                f"is {wait!r} ({type(wait).__name__}) after the adapter set it to 42",
            )
    finally:
        await consumer.stop()


async def test_the_committed_offsets_are_faust_s_own(app: OrchestratorApp) -> None:
    consumer = app.consumer
    assert isinstance(consumer, faust_consumer.Consumer)
    tracked = getattr(consumer, "_committed_offset", None)
    attribute = "faust.transport.consumer.Consumer._committed_offset"
    if tracked is None:
        broken(attribute, "is gone")
    if not isinstance(tracked, MutableMapping):
        broken(attribute, f"is a {type(tracked).__name__}, not a mapping TP → offset")
    tp = TP("t.jobs.commands", 0)
    if tracked.get(tp) is not None:
        broken(attribute, f"has {tracked.get(tp)!r}, not None, for a partition never committed")
    # What Consumer.commit records (the offset committed per partition) is what the adapter reads.
    tracked[tp] = 7
    if faust_adapter.committed_offsets(consumer).get(tp) != 7:
        broken(attribute, "is not what faust_adapter.committed_offsets reads")


async def test_table_recovery_is_an_event(app: OrchestratorApp) -> None:
    recovery = getattr(app.tables, "recovery", None)
    completed = getattr(recovery, "completed", None)
    if not isinstance(completed, asyncio.Event):
        broken(
            "faust.tables.manager.TableManager.recovery.completed",
            f"is {type(completed).__name__}, not an asyncio.Event",
        )
    assert faust_adapter.table_recovered(app) is False
    completed.set()
    assert faust_adapter.table_recovered(app) is True


def test_what_the_agent_relies_on_for_manual_acks(app: OrchestratorApp) -> None:
    """agent.py acknowledges each record itself (Stream.noack, Stream.ack) and, when it leaves
    one for redelivery, takes it out of the set faust's rebalance and stop wait on
    (Consumer.unacked must be that very set, Consumer.wait_empty's)."""
    from faust.streams import Stream
    from faust.tables.base import Collection

    require_method(Stream, "noack")
    require_method(Stream, "ack")
    require_method(Collection, "on_recover")
    if not callable(getattr(faust, "current_event", None)):
        broken("faust.current_event", "is gone")
    consumer: Any = app.consumer
    if consumer.unacked is not consumer._unacked_messages:
        broken("faust Consumer.unacked", "is no longer the set Consumer.wait_empty waits on")
    active = app.flow_control.is_active()  # suspended until the first recovery resumes it
    if not isinstance(app.consumer_generation_id, int) or not isinstance(active, bool):
        broken("App.consumer_generation_id / App.flow_control", "changed")


class RecordedSeeks:
    """An AIOKafkaConsumer's seeks, as rewind_uncommitted makes them."""

    def __init__(self) -> None:
        self.seeks: list[tuple[str, tuple[TP, ...], int | None]] = []

    def seek(self, partition: TP, offset: int) -> None:
        self.seeks.append(("seek", (partition,), offset))

    async def seek_to_beginning(self, *partitions: TP) -> None:
        self.seeks.append(("beginning", partitions, None))

    async def seek_to_end(self, *partitions: TP) -> None:
        self.seeks.append(("end", partitions, None))


P0, P1, P2, P3 = (TP("t.jobs.commands", p) for p in range(4))


@pytest.mark.parametrize(
    ("reset", "expected"),
    [
        ("earliest", [("seek", (P1,), 0), ("beginning", (P0, P3), None)]),
        ("latest", [("seek", (P1,), 0), ("end", (P0, P3), None)]),
        ("none", [("seek", (P1,), 0)]),
    ],
)
async def test_partitions_never_committed_or_at_zero_are_rewound_too(
    reset: str, expected: list[tuple[str, tuple[TP, ...], int | None]]
) -> None:
    """aiokafka's seek_to_committed seeks only P2 (committed past 0); the others stay where
    the fetcher got to, past records faust dropped while its flow was stopped."""
    consumer = RecordedSeeks()
    committed: dict[TP, int | None] = {P0: None, P1: 0, P2: 5, P3: -1}
    await faust_adapter.rewind_uncommitted(consumer, committed, reset)
    assert consumer.seeks == expected


async def test_nothing_is_sought_when_every_partition_is_committed_past_zero() -> None:
    consumer = RecordedSeeks()
    await faust_adapter.rewind_uncommitted(consumer, {P0: 3, P1: 9}, "earliest")
    assert consumer.seeks == []


def test_aiokafka_still_skips_the_partitions_the_adapter_rewinds() -> None:
    """Should aiokafka start seeking those partitions itself, the adapter's rewind is
    redundant (harmless) and this test says so, to remove it."""
    source = inspect.getsource(aiokafka.AIOKafkaConsumer.seek_to_committed)
    if "if offset and offset > 0:" not in source:
        broken(
            "aiokafka.AIOKafkaConsumer.seek_to_committed",
            "no longer skips partitions committed at 0 or never: rewind_uncommitted may go",
        )


async def test_recovery_stops_the_consumer_flow_before_faust_s_own_runs(
    app: OrchestratorApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    """faust's on_recovery_completed resumes app.flow_control (clearing the stream queues)
    after seeking; the adapter's recovery stops the consumer's flow before it, so nothing
    fetched before that seek is queued and then cleared."""
    recovery = app.tables.recovery  # type: ignore[attr-defined]
    assert isinstance(recovery, faust_adapter._Recovery)
    consumer: Any = app.consumer
    flow_when_faust_ran: list[bool] = []

    async def faust_s_own(self: Recovery, generation_id: int = 0) -> None:
        flow_when_faust_ran.append(consumer.flow_active)

    monkeypatch.setattr(Recovery, "on_recovery_completed", faust_s_own)
    consumer.resume_flow()
    await recovery.on_recovery_completed(generation_id=3)
    assert flow_when_faust_ran == [False]


def test_resuming_the_flow_still_clears_the_stream_queues() -> None:
    """Why the adapter stops the consumer's flow during recovery (see faust_adapter.py)."""
    from mode.utils.queues import FlowControlEvent, FlowControlQueue

    flow = FlowControlEvent(initially_suspended=False)
    queue: FlowControlQueue[int] = FlowControlQueue(flow_control=flow, clear_on_resume=True)
    queue.put_nowait(1)
    flow.resume()
    if not queue.empty():
        broken(
            "mode.utils.queues.FlowControlEvent.resume",
            "no longer clears the queues: _Recovery's stop_flow may go",
        )

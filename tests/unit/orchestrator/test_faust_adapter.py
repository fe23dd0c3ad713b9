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
    require_method(driver.AIOKafkaConsumerThread, "_create_worker_consumer")
    require_method(driver.AIOKafkaConsumerThread, "_create_consumer")
    require_method(driver.Consumer, "_new_consumer_thread")
    require_method(faust.App, "_new_transport")
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

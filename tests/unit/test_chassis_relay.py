"""The relay turns stored events into CloudEvents, one Kafka transaction per batch
(in memory, with a fake transactional producer)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from uuid import uuid4

import pytest
from aiokafka.errors import KafkaTimeoutError
from eventsourcing.persistence import OperationalError

from intake.application import IntakeApplication
from intake.domain import SubmissionKey
from intake.outbound import to_outbound
from services.eventstore import EventStore
from services.observability import Metrics
from services.relay import CONTENT_TYPE_HEADER, POSITION_HEADER, STREAM_HEADER, STRUCTURED_CONTENT_TYPE, Relay
from shared_events import DossierAccepted, DossierSubmitted, decode, from_cloud_event
from tests.random_refs import random_agency_id, random_sha256, random_suffix
from tests.support.builders import a_dossier, a_moment
from tests.support.kafka import eventually

IN_MEMORY = {"PERSISTENCE_MODULE": "eventsourcing.popo"}


@dataclass
class Sent:
    topic: str
    value: bytes
    key: bytes
    headers: dict[str, str]


@dataclass
class FakeTransactionalProducer:
    """Keeps what committed transactions sent; an aborted transaction leaves nothing."""

    committed: list[Sent] = field(default_factory=list)
    aborted: int = 0
    _pending: list[Sent] | None = None

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        self._pending = []
        try:
            yield
        except BaseException:
            self.aborted += 1
            raise
        else:
            self.committed.extend(self._pending)
        finally:
            self._pending = None

    async def send(self, topic: str, value: bytes, *, key: bytes, headers: list[tuple[str, bytes]]) -> None:
        assert self._pending is not None, "sent outside a transaction"
        self._pending.append(Sent(topic, value, key, {k: v.decode() for k, v in headers}))


@pytest.fixture
async def store() -> AsyncIterator[EventStore[IntakeApplication]]:
    store = EventStore(lambda: IntakeApplication(env=IN_MEMORY), workers=2, name=f"relay-{random_suffix()}")
    await store.open()
    yield store
    await store.close()


@pytest.fixture
def producer() -> FakeTransactionalProducer:
    return FakeTransactionalProducer()


@pytest.fixture
def topic() -> str:
    return f"test.{random_suffix()}.intake.dossier-events"


@pytest.fixture
def stream_id() -> str:
    return str(uuid4())


@pytest.fixture
def relay(store: EventStore[IntakeApplication], producer: FakeTransactionalProducer, topic: str,
          stream_id: str) -> Relay:
    return Relay(store=store, producer=producer, topic=topic, source="/lienthong/intake", to_outbound=to_outbound,
                 database_url="postgresql://unused", stream_id=stream_id, metrics=Metrics(), batch_size=50)




async def test_a_batch_publishes_every_event_with_a_contract_in_commit_order(
    relay: Relay, store: EventStore[IntakeApplication], producer: FakeTransactionalProducer, topic: str,
    stream_id: str,
) -> None:
    app = store.app
    dossier = a_dossier()
    key = SubmissionKey(client_id=dossier.submitted_by, key=str(uuid4()), fingerprint=random_sha256(),
                        dossier_code=dossier.code)
    app.submit(dossier, key)
    app.accept(dossier.code, by=f"desk-{random_suffix()}", at=a_moment(), correlation_id=str(uuid4()))
    last = app.recorder.max_notification_id()

    position = await relay.publish_batch(0)

    assert position == last
    assert [s.topic for s in producer.committed] == [topic, topic]
    contracts = [from_cloud_event(decode(s.value)) for s in producer.committed]
    assert [type(c) for c in contracts] == [DossierSubmitted, DossierAccepted]
    assert {s.key for s in producer.committed} == {dossier.code.encode()}
    positions = [int(s.headers[POSITION_HEADER]) for s in producer.committed]
    assert positions == sorted(positions) and positions[-1] == last
    assert {s.headers[STREAM_HEADER] for s in producer.committed} == {stream_id}


async def test_a_batch_after_the_last_position_publishes_nothing(
    relay: Relay, store: EventStore[IntakeApplication], producer: FakeTransactionalProducer
) -> None:
    store.app.submit(a_dossier(), None)
    position = await relay.publish_batch(0)

    assert await relay.publish_batch(position) is None
    assert len(producer.committed) == 1


async def test_events_without_a_contract_still_advance_the_position(
    relay: Relay, store: EventStore[IntakeApplication], producer: FakeTransactionalProducer
) -> None:
    dossier = a_dossier(channel="desk")
    store.app.submit(dossier, None)
    after = await relay.publish_batch(0)
    dossier = store.app.dossier(dossier.code)
    dossier.record_status_change(event_id=str(uuid4()), national_status=4, reason=None,
                                 agency_id=random_agency_id(), changed_at=a_moment())
    store.app.save(dossier)

    position = await relay.publish_batch(after)

    assert position == store.app.recorder.max_notification_id()
    assert len(producer.committed) == 1


async def test_a_republished_event_keeps_its_id(
    store: EventStore[IntakeApplication], relay: Relay, producer: FakeTransactionalProducer
) -> None:
    store.app.submit(a_dossier(), None)

    await relay.publish_batch(0)
    await relay.publish_batch(0)

    first, again = (decode(s.value) for s in producer.committed)
    assert first.id == again.id


async def test_an_event_stored_without_a_correlation_id_is_still_published(
    relay: Relay, store: EventStore[IntakeApplication], producer: FakeTransactionalProducer
) -> None:
    store.app.submit(a_dossier(correlation_id=None), None)

    position = await relay.publish_batch(0)

    assert position == store.app.recorder.max_notification_id()
    assert len(producer.committed) == 1


async def test_an_empty_store_publishes_nothing(relay: Relay, producer: FakeTransactionalProducer) -> None:
    assert await relay.publish_batch(0) is None
    assert producer.committed == []


def test_every_record_is_structured_mode_cloudevents_without_binary_mode_headers() -> None:
    assert (CONTENT_TYPE_HEADER, STRUCTURED_CONTENT_TYPE) == ("content-type", "application/cloudevents+json")


async def test_published_records_say_structured_mode_and_carry_no_ce_headers(
    relay: Relay, store: EventStore[IntakeApplication], producer: FakeTransactionalProducer
) -> None:
    store.app.submit(a_dossier(), None)

    await relay.publish_batch(0)

    [sent] = producer.committed
    assert sent.headers["content-type"] == "application/cloudevents+json"
    assert not [name for name in sent.headers if name.lower().startswith("ce_")]


async def test_a_stored_event_that_cannot_be_encoded_is_counted_logged_and_skipped(
    store: EventStore[IntakeApplication], producer: FakeTransactionalProducer, topic: str, stream_id: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.ERROR, logger="services.relay")
    metrics = Metrics()
    poisoned: set[str] = set()

    def to_outbound_refusing_one(event: object) -> object:
        if getattr(event, "code", None) in poisoned:
            raise OverflowError("date value out of range")
        return to_outbound(event)  # type: ignore[arg-type]

    relay = Relay(store=store, producer=producer, topic=topic, source="/lienthong/intake",
                  to_outbound=to_outbound_refusing_one, database_url="postgresql://unused", stream_id=stream_id,
                  metrics=metrics)
    bad, good = a_dossier(), a_dossier()
    poisoned.add(bad.code)
    store.app.submit(bad, None)
    store.app.submit(good, None)

    position = await relay.publish_batch(0)

    assert position == store.app.recorder.max_notification_id()
    assert [s.key for s in producer.committed] == [good.code.encode()]
    assert metrics.registry.get_sample_value("relay_unpublishable_events_total", {"topic": topic}) == 1
    [logged] = [r for r in caplog.records if r.levelname == "ERROR"]
    assert logged.notification_id == 1  # type: ignore[attr-defined]


@dataclass
class FlakyStore:
    """An event store whose first ``failures`` calls fail as if PostgreSQL were down."""

    inner: EventStore[IntakeApplication]
    failures: int
    calls: int = 0

    @property
    def app(self) -> IntakeApplication:
        return self.inner.app  # type: ignore[return-value]

    async def call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        if self.calls <= self.failures:
            raise OperationalError("server closed the connection unexpectedly")
        return await self.inner.call(fn, *args, **kwargs)


async def test_the_relay_waits_out_an_outage_of_the_database_and_publishes_afterwards(
    store: EventStore[IntakeApplication], producer: FakeTransactionalProducer, topic: str, stream_id: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    flaky = FlakyStore(store, failures=3)
    relay = Relay(store=flaky, producer=producer, topic=topic, source="/lienthong/intake",  # type: ignore[arg-type]
                  to_outbound=to_outbound, database_url="postgresql://127.0.0.1:1/unused", stream_id=stream_id,
                  metrics=Metrics(), idle_poll_seconds=0.05, retry_backoff_seconds=0.01)
    monkeypatch.setattr(relay, "_listen", _no_listener)
    store.app.submit(a_dossier(), None)
    stop = asyncio.Event()

    running = asyncio.create_task(relay.run(stop, start_after=0))
    await eventually(lambda: _some(producer.committed), timeout=30)
    stop.set()
    await running

    assert flaky.calls > 3 and len(producer.committed) == 1


async def _no_listener() -> None:
    return None


async def _some(items: list[Sent]) -> bool:
    return bool(items)


@dataclass
class CommitAnswerLost(FakeTransactionalProducer):
    """The broker commits the first transaction, but its answer is lost (a time-out reaches the relay)."""

    lost: int = 1

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        async with super().transaction():
            yield
        if self.lost:
            self.lost -= 1
            raise KafkaTimeoutError("the commit's answer did not arrive")


async def test_a_batch_whose_commit_answer_was_lost_is_not_published_again(
    store: EventStore[IntakeApplication], topic: str, stream_id: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    producer = CommitAnswerLost()

    async def position_on_kafka() -> int:
        return max((int(s.headers[POSITION_HEADER]) for s in producer.committed), default=0)

    relay = Relay(store=store, producer=producer, topic=topic, source="/lienthong/intake",  # type: ignore[arg-type]
                  to_outbound=to_outbound, database_url="postgresql://127.0.0.1:1/unused", stream_id=stream_id,
                  metrics=Metrics(), idle_poll_seconds=0.05, retry_backoff_seconds=0.01,
                  recover_position=position_on_kafka)
    monkeypatch.setattr(relay, "_listen", _no_listener)
    first = a_dossier()
    store.app.submit(first, None)
    stop = asyncio.Event()
    running = asyncio.create_task(relay.run(stop, start_after=0))
    await eventually(lambda: _none_lost(producer), timeout=30)
    second = a_dossier()
    store.app.submit(second, None)

    async def both_published() -> bool:
        return {s.key for s in producer.committed} == {first.code.encode(), second.code.encode()}
    await eventually(both_published, timeout=30)
    stop.set()
    await running

    assert [s.key for s in producer.committed] == [first.code.encode(), second.code.encode()]


async def _none_lost(producer: CommitAnswerLost) -> bool:
    return producer.lost == 0

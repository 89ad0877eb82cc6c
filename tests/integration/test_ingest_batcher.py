"""The batcher's group commit against the real broker: a round is produced at once when nothing
of ours waits for Kafka, gathers while a round is in flight and is produced when that round is
acknowledged, and waits no longer than the linger when Kafka is slow.

librdkafka's own ``linger.ms`` is raised in some tests so that an acknowledgement surely takes
longer than the steps of the test; the batcher's linger is set far beyond any test's length
where a test shows that something did *not* wait for it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import pytest

from contract.events import AckEvent, decode_event_batch, idempotency_key
from contract.partitioning import partition_for
from contract.topics import Topics
from ingest.batcher import Batcher
from ingest.metrics import Metrics
from ingest.producer import KafkaProducer, Unavailable, producer_config
from tests.integration.ingest_support import read_topic
from tickstream.infra.ports import free_port

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC)
NEVER = 600.0  # a batcher linger no test lasts


def ack(message_id: str) -> AckEvent:
    return AckEvent(
        message_id=message_id,
        status="delivered",
        received_at=NOW,
        provider="waha",
        idempotency_key=idempotency_key("waha", message_id, "delivered", ""),
    )


def ids_of_partition(partition: int, partitions: int, count: int) -> list[str]:
    ids = (f"m{i}" for i in range(10_000))
    return [m for m in ids if partition_for(m, partitions) == partition][:count]


@asynccontextmanager
async def batcher_on(
    bootstrap: str,
    topics: Topics,
    deadline: float,
    linger: float,
    min_linger: float = 0.0,
    **librdkafka: Any,
) -> AsyncIterator[tuple[Batcher, Metrics]]:
    producer = KafkaProducer({**producer_config(bootstrap, deadline), **librdkafka})
    metrics = Metrics()
    batcher = Batcher(
        producer,
        topics.ack_events,
        topics.partitions,
        deadline,
        linger=linger,
        count_record=metrics.record_events.observe,
        min_linger=min_linger,
    )
    try:
        yield batcher, metrics
    finally:
        await producer.close(deadline)


async def until(condition: Any, within: float = 20.0) -> None:
    """Poll ``condition()`` on the loop (the batcher's callbacks need it to run)."""
    for _ in range(int(within / 0.02)):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not reached")


def batches_of(bootstrap: str, topics: Topics, partition: int) -> list[list[str]]:
    """The message ids of each record of ``partition``, in offset order."""
    return [
        [event.message_id for event in decode_event_batch(value).events]
        for p, _key, value in read_topic(bootstrap, topics.ack_events)
        if p == partition
    ]


async def test_a_lone_request_is_produced_at_once(kafka_bootstrap: str, topics: Topics) -> None:
    async with batcher_on(kafka_bootstrap, topics, deadline=2 * NEVER, linger=NEVER) as (b, _):
        # a fixed linger would hold this request for NEVER seconds; group commit sends it now
        await asyncio.wait_for(b.submit([ack("lone")]), timeout=60)
        assert b.in_flight == 0
    partition = partition_for("lone", topics.partitions)
    assert batches_of(kafka_bootstrap, topics, partition) == [["lone"]]


async def test_a_minimum_linger_gathers_requests_that_come_one_at_a_time(
    kafka_bootstrap: str, topics: Topics
) -> None:
    first, second = ids_of_partition(2, topics.partitions, 2)
    async with batcher_on(
        kafka_bootstrap, topics, deadline=2 * NEVER, linger=NEVER, min_linger=3.0
    ) as (b, _):
        head = asyncio.create_task(b.submit([ack(first)]))
        await asyncio.sleep(0.2)
        assert b.in_flight == 0, "nothing is produced before the minimum linger"
        tail = asyncio.create_task(b.submit([ack(second)]))
        await asyncio.wait_for(asyncio.gather(head, tail), timeout=120)
    assert batches_of(kafka_bootstrap, topics, 2) == [[first, second]]


async def test_requests_during_a_round_in_flight_share_the_next_record(
    kafka_bootstrap: str, topics: Topics
) -> None:
    first, *later = ids_of_partition(0, topics.partitions, 4)
    other = ids_of_partition(1, topics.partitions, 1)[0]
    # librdkafka holds each record 3 s, so the first round is surely in flight meanwhile
    async with batcher_on(
        kafka_bootstrap, topics, deadline=2 * NEVER, linger=NEVER, **{"linger.ms": 3000}
    ) as (b, metrics):
        head = asyncio.create_task(b.submit([ack(first)]))
        await until(lambda: b.in_flight == 1)
        tail = []
        for message_id in [*later, other]:  # each in a later turn of the loop
            tail.append(asyncio.create_task(b.submit([ack(message_id)])))
            await asyncio.sleep(0.01)
        assert b.in_flight == 1, "the later requests must wait for the round in flight"
        # they are produced when the first round is acknowledged, long before the linger
        await asyncio.wait_for(asyncio.gather(head, *tail), timeout=120)
        assert b.in_flight == 0
    assert batches_of(kafka_bootstrap, topics, 0) == [[first], later]
    assert batches_of(kafka_bootstrap, topics, 1) == [[other]]
    samples = {s.name: s.value for m in metrics.record_events.collect() for s in m.samples}
    # every event counted once, in 3 records
    assert samples["tickstream_ingest_record_events_sum"] == 5
    assert samples["tickstream_ingest_record_events_count"] == 3


async def test_the_linger_bounds_the_wait_and_unacknowledged_rounds_expire(
    topics: Topics,
) -> None:
    nobody = f"127.0.0.1:{free_port()}"  # no broker: nothing is ever acknowledged
    async with batcher_on(nobody, topics, deadline=4.0, linger=0.2) as (b, _):
        head = asyncio.create_task(b.submit([ack("a")]))
        await until(lambda: b.in_flight == 1)
        tail = asyncio.create_task(b.submit([ack("b")]))
        # the second round is produced at its linger although the first is still unanswered
        await until(lambda: b.in_flight == 2, within=3.0)
        for request in (head, tail):
            with pytest.raises(Unavailable):
                await request  # 503: not acknowledged within the produce timeout
        assert b.in_flight == 0
        # a request after the outage starts a round of its own at once
        later = asyncio.create_task(b.submit([ack("c")]))
        await until(lambda: b.in_flight == 1)
        with pytest.raises(Unavailable):
            await later

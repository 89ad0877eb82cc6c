"""The worker's own appends to Kafka: output records, and table writes to their changelogs.

Faust's ``table[key] = value`` sends one changelog record per write through its producer buffer,
which caps a worker near 5,000 writes/s, and its ``topic.send`` costs several times more per record
than aiokafka's. Records here go straight to the aiokafka producer: many as one prepared batch, a
few appended to the batch being filled (a prepared batch waits for the previous one of its
partition to be on the wire, a broker round trip). Faust flushes the producer before it commits
source offsets, so a committed offset still implies a durable changelog (docs/exactness.md).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, cast

import faust

from streams.faust_transport import kafka_producer
from streams.state_store import Delivery, DiskTable
from streams.write_behind import Segment, Write

log = logging.getLogger(__name__)

# From this many changelog records on, one prepared Kafka batch is cheaper than appending each.
PREPARED_BATCH_MIN = 64


class ChangelogWriter:
    """Appends to the producer of ``app``; a refused record crashes the worker."""

    def __init__(self, app: faust.App) -> None:
        self._app = app

    def _check_delivery(self, future: asyncio.Future[Any]) -> None:
        """A record Kafka refused must not be followed by an offset commit: crash, so the worker
        restarts from the last commit and writes it again."""
        if not future.cancelled() and future.exception() is not None:
            log.error("write to Kafka failed: %r", future.exception())
            self._app.add_future(self._app.crash(cast(BaseException, future.exception())))

    async def send(
        self, topic: str, key: bytes | None, value: bytes | None, partition: int
    ) -> asyncio.Future[Any]:
        """Append one record to the producer's open batch."""
        sent: asyncio.Future[Any] = await kafka_producer(self._app).send(
            topic, value=value, key=key, partition=partition
        )
        sent.add_done_callback(self._check_delivery)
        return sent

    async def send_changelog(
        self, table: DiskTable, partition: int, items: list[Write], *, atomic: bool = False
    ) -> list[Delivery]:
        """Append table writes to the table's changelog partition.

        ``atomic``: the writes must land in one Kafka batch, which the log appends whole or not
        at all (``streams.retention``).
        """
        topic = table.changelog_topic.get_topic_name()
        return await self.send_many(topic, partition, items, atomic=atomic)

    async def send_many(
        self, topic: str, partition: int, items: list[Write], *, atomic: bool = False
    ) -> list[Delivery]:
        """Append records to one partition, many as prepared batches."""
        if len(items) < PREPARED_BATCH_MIN and not atomic:
            return [(await self.send(topic, key, value, partition), 1) for key, value in items]
        producer = kafka_producer(self._app)
        deliveries: list[Delivery] = []
        batch, count = producer.create_batch(), 0
        for key, value in items:
            if batch.append(key=key, value=value, timestamp=None) is None:
                if atomic:
                    raise RuntimeError(f"{len(items)} records do not fit one Kafka batch")
                deliveries.append(await self._send_batch(batch, count, topic, partition))
                batch, count = producer.create_batch(), 0
                batch.append(key=key, value=value, timestamp=None)
            count += 1
        deliveries.append(await self._send_batch(batch, count, topic, partition))
        return deliveries

    async def _send_batch(self, batch: Any, count: int, topic: str, partition: int) -> Delivery:
        """A prepared batch; its future resolves to the offset of its first record."""
        sent: asyncio.Future[Any] = await kafka_producer(self._app).send_batch(
            batch, topic, partition=partition
        )
        sent.add_done_callback(self._check_delivery)
        return sent, count

    async def send_table_writes(self, table: DiskTable, segment: Segment) -> None:
        """Append a segment's table writes to the changelog; the store writes them to disk once
        Kafka has acknowledged them (``streams.state_store``)."""
        deliveries = {
            partition: await self.send_changelog(table, partition, items, atomic=segment.atomic)
            for partition, items in segment.changelog.items()
        }
        table.store.expect(segment.changelog, segment.rows, deliveries)

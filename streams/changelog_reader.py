"""Reading a table's changelog partitions in large batches: to their end for an active partition
(a restart's tail, a takeover, a cold restore on an empty disk), and on and on for a standby.

Faust's recovery hands the store one record at a time through a queue, paying an
``asyncio.wait_for`` and a check of every partition's remaining offsets per record: about
9,000–13,000 records/s, minutes for a cold restore of 1,000,000 messages, and a standby that fell
behind any busy active partition. Here a consumer of its own, outside any group (Faust's
assignment already made the partitions this worker's), fetches many records per request and
hands them over per partition, so the store applies each fetched batch as one RocksDB write batch
with its offset (``streams.state_store``, docs/worker.md).
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Iterable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import NamedTuple, Protocol

from aiokafka import AIOKafkaConsumer, TopicPartition

from contract.fetching import groupless_reader
from streams.write_behind import Write

# Records one fetch hands over at most (one write batch per partition among them).
RESTORE_BATCH = 20_000
MIB = 1024 * 1024


class Fetched(NamedTuple):
    """Consecutive changelog records of one partition, and the offset of the last."""

    partition: int
    writes: list[Write]
    last_offset: int


class OpenChangelog(Protocol):
    """Some partitions of a changelog, their ends known."""

    @property
    def ends(self) -> dict[int, int]:
        """Per partition, the offset after its last record when the changelog was opened."""

    def read(self, starts: dict[int, int], *, follow: bool = False) -> AsyncIterator[Fetched]:
        """Every record from ``starts`` (a partition's first offset to read) to its end, or with
        ``follow`` every record appended after too, until cancelled."""


class ChangelogSource(Protocol):
    def open(
        self, topic: str, partitions: Iterable[int]
    ) -> AbstractAsyncContextManager[OpenChangelog]:
        """Partitions of ``topic``, for one restore."""


class _KafkaChangelog:
    def __init__(self, consumer: AIOKafkaConsumer, topic: str, ends: dict[int, int]) -> None:
        self._consumer = consumer
        self._topic = topic
        self.ends = ends

    async def read(self, starts: dict[int, int], *, follow: bool = False) -> AsyncIterator[Fetched]:
        consumer = self._consumer
        ends = {
            TopicPartition(self._topic, partition): math.inf if follow else self.ends[partition]
            for partition, start in starts.items()
            if follow or start < self.ends[partition]
        }
        consumer.assign(list(ends))  # the fetcher reads every assigned partition
        for tp in ends:
            consumer.seek(tp, starts[tp.partition])  # below the log's start: from its start
        while ends:
            fetched = await consumer.getmany(*ends, timeout_ms=1000, max_records=RESTORE_BATCH)
            for tp, records in fetched.items():
                writes: list[Write] = []
                last = -1
                for record in records:
                    if record.offset >= ends[tp]:
                        break
                    assert record.key is not None  # a table's changelog records have keys
                    writes.append((record.key, record.value))
                    last = record.offset
                if writes:
                    yield Fetched(tp.partition, writes, last)
            for tp, end in list(ends.items()):
                # compaction may leave the last offsets without a record: the position tells
                if await consumer.position(tp) >= end:
                    del ends[tp]


class ChangelogReader:
    """Opens changelog partitions on ``bootstrap`` with a consumer of their own."""

    def __init__(self, bootstrap: str) -> None:
        self._bootstrap = bootstrap

    @asynccontextmanager
    async def open(self, topic: str, partitions: Iterable[int]) -> AsyncIterator[OpenChangelog]:
        consumer = groupless_reader(
            self._bootstrap,
            "tickstream-worker-restore",
            fetch_max_bytes=64 * MIB,
            max_partition_fetch_bytes=16 * MIB,
        )
        await consumer.start()
        try:
            tps = [TopicPartition(topic, partition) for partition in sorted(set(partitions))]
            ends = await consumer.end_offsets(tps)
            yield _KafkaChangelog(consumer, topic, {tp.partition: ends[tp] for tp in tps})
        finally:
            await consumer.stop()

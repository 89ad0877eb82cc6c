"""Pack the events of concurrent requests into one ``EventBatch`` record per partition.

Every request that arrives within ``INGEST_LINGER_MS`` of a round's first one joins that round.
The worker pays a fixed cost per Kafka record, so fuller records are what let it keep up with
single-event webhooks: at 10,000 acks/s a 25 ms round holds ~250 events, ~30 per partition.
Each request then waits only for the records holding its own events, and is answered 2xx only
when all of them were acknowledged by Kafka (``acks=all``). A request whose records fail or are
late gets :class:`Unavailable` (503) even if other records of its round succeeded, so nothing
half-acknowledged is reported as success; a retry may duplicate events, which the idempotency
key and the worker's semilattice make harmless.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from functools import partial

from ingest.producer import KafkaProducer, Unavailable, acknowledged
from streams.events import EventBatch, MessageEvent, encode
from streams.partitioning import partitions_for

# Kafka's default largest record is 1 MB; stay below it with room for the record overhead.
MAX_RECORD_BYTES = 900_000


def pack(
    events: Sequence[MessageEvent], max_bytes: int = MAX_RECORD_BYTES
) -> list[tuple[str, bytes]]:
    """``(key, value)`` records: ``EventBatch`` values holding ``events`` in order, each at most
    ``max_bytes``, keyed by the message id of their first event.

    A batch too big is halved until it fits (one event always fits: its fields are bounded).
    """
    value = encode(EventBatch(events=list(events)))
    if len(value) <= max_bytes or len(events) == 1:
        return [(events[0].message_id, value)]
    half = len(events) // 2
    return pack(events[:half], max_bytes) + pack(events[half:], max_bytes)


def group_by_partition(
    events: Sequence[MessageEvent], partitions: int
) -> dict[int, list[MessageEvent]]:
    """Events grouped by the partition of their message id, order kept within a group."""
    groups: dict[int, list[MessageEvent]] = {}
    for event, partition in zip(
        events, partitions_for((e.message_id for e in events), partitions), strict=True
    ):
        groups.setdefault(partition, []).append(event)
    return groups


class _Round:
    """The events gathered during one turn of the loop, and one outcome per partition."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.events: dict[int, list[MessageEvent]] = {}
        self.outcome: dict[int, asyncio.Future[str | None]] = {}

    def add(self, groups: dict[int, list[MessageEvent]]) -> list[asyncio.Future[str | None]]:
        for partition, events in groups.items():
            self.events.setdefault(partition, []).extend(events)
            if partition not in self.outcome:
                self.outcome[partition] = self.loop.create_future()
        return [self.outcome[partition] for partition in groups]


class Batcher:
    """Gathers, produces and reports; one per process, shared by every handler."""

    def __init__(
        self,
        producer: KafkaProducer,
        topic: str,
        partitions: int,
        timeout: float,
        observe: Callable[[float], None] = lambda seconds: None,
        linger: float = 0.0,
    ) -> None:
        self._producer = producer
        self._topic = topic
        self._partitions = partitions
        self._timeout = timeout
        self._observe = observe
        self._linger = linger
        self._round: _Round | None = None

    async def submit(self, events: Sequence[MessageEvent]) -> None:
        """Return once Kafka acknowledged every record holding ``events``; else raise."""
        if not events:
            return
        started = time.perf_counter()
        current = self._round
        if current is None:
            loop = asyncio.get_running_loop()
            current = self._round = _Round(loop)
            loop.call_later(self._linger, self._flush, current)
        waits = current.add(group_by_partition(events, self._partitions))
        await acknowledged(waits, self._timeout)
        self._observe(time.perf_counter() - started)

    def _flush(self, current: _Round) -> None:
        self._round = None
        for partition, events in current.events.items():
            outcome = current.outcome[partition]
            try:
                records = [
                    self._producer.produce(self._topic, value, key=key, partition=partition)
                    for key, value in pack(events)
                ]
            except Unavailable as exc:
                outcome.set_result(str(exc))
                continue
            asyncio.gather(*records).add_done_callback(partial(_first_error, outcome=outcome))


def _first_error(
    results: asyncio.Future[list[str | None]], *, outcome: asyncio.Future[str | None]
) -> None:
    if outcome.done():
        return
    errors = [error for error in results.result() if error is not None]
    outcome.set_result(errors[0] if errors else None)

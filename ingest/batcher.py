"""Pack the events of concurrent requests into one ``EventBatch`` record per partition, by group
commit.

The worker pays a fixed cost per Kafka record, so records should hold many events; a request
should not wait for anything but its own acknowledgement. Group commit gives both where each
matters: a round (the events of the requests gathered together) is produced

* at once (on the next turn of the loop) when no earlier round of ours waits for Kafka, so a
  lone request at a low rate waits only for its own acknowledgement (or, with
  ``INGEST_MIN_LINGER_MS``, after that long: fuller records when requests come one at a time);
* otherwise as soon as the last earlier round is settled, so at a high rate a round gathers
  everything that arrived during one acknowledgement round trip;
* and at the latest ``INGEST_LINGER_MS`` after its first request, so a slow broker does not
  hold new requests back longer than that.

Each request waits only for the records holding its own events, and is answered 2xx only when
all of them were acknowledged by Kafka (``acks=all``). A request whose records fail, or are not
acknowledged within ``PRODUCE_TIMEOUT_SECONDS`` of its round's start, gets :class:`Unavailable`
(503) even if other records of its round succeeded, so nothing half-acknowledged is reported as
success; a retry may duplicate events, which the idempotency key and the worker's semilattice
make harmless.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from functools import partial

from contract.events import EventBatch, MessageEvent, encode
from contract.partitioning import partition_for, partitions_for
from ingest.limits import MAX_RECORD_BYTES
from ingest.producer import KafkaProducer, Unavailable


def pack(
    events: Sequence[MessageEvent], max_bytes: int = MAX_RECORD_BYTES
) -> list[tuple[str, bytes]]:
    """``(key, value)`` records: ``EventBatch`` values holding ``events`` in order, each at most
    ``max_bytes``, keyed by the message id of their first event.

    A batch too big is halved until it fits (one event always fits: every text that reaches an
    event is bounded, ``ingest/limits.py``).
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
    if len(events) == 1:  # a webhook's single event: skip the bulk machinery
        return {partition_for(events[0].message_id, partitions): list(events)}
    groups: dict[int, list[MessageEvent]] = {}
    for event, partition in zip(
        events, partitions_for((e.message_id for e in events), partitions), strict=True
    ):
        groups.setdefault(partition, []).append(event)
    return groups


class _Round:
    """The events gathered for one produce, and one outcome per partition: ``None`` once Kafka
    acknowledged every record of that partition, else why not.
    """

    __slots__ = (
        "events",
        "expiry",
        "loop",
        "on_settled",
        "opened",
        "outcome",
        "start",
        "unsettled",
    )

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        timeout: float,
        on_settled: Callable[[], None],
        produce: Callable[[_Round], None],
        delay: float,
    ) -> None:
        self.loop = loop
        self.opened = loop.time()
        self.events: dict[int, list[MessageEvent]] = {}
        self.outcome: dict[int, asyncio.Future[str | None]] = {}
        self.unsettled = 0
        self.on_settled = on_settled
        # one deadline per round, not one per request: a request's wait is bounded by its
        # round's, which started at most a linger before the request joined
        self.expiry = loop.call_later(timeout, self.expire, timeout)
        self.start = loop.call_later(delay, produce, self)  # when the round is produced

    def add(self, groups: dict[int, list[MessageEvent]]) -> list[asyncio.Future[str | None]]:
        waits = []
        for partition, events in groups.items():
            gathered = self.events.get(partition)
            if gathered is None:
                self.events[partition] = events
                outcome = self.outcome[partition] = self.loop.create_future()
                self.unsettled += 1
            else:
                gathered.extend(events)
                outcome = self.outcome[partition]
            waits.append(outcome)
        return waits

    def settle(self, outcome: asyncio.Future[str | None], error: str | None) -> None:
        if outcome.done():
            return
        outcome.set_result(error)
        self.unsettled -= 1
        if not self.unsettled:
            self.expiry.cancel()
            self.on_settled()

    def expire(self, timeout: float) -> None:
        for outcome in list(self.outcome.values()):
            self.settle(outcome, f"Kafka did not acknowledge within {timeout:g} s")


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
        count_record: Callable[[float], None] = lambda events: None,
        min_linger: float = 0.0,
    ) -> None:
        self._producer = producer
        self._topic = topic
        self._partitions = partitions
        self._timeout = timeout
        self._observe = observe
        self._count_record = count_record
        # a round starts at the latest after the linger, so it must expire later than that
        self._linger = min(linger, timeout / 2)
        self._min_linger = min(min_linger, self._linger)
        self._gathering: _Round | None = None
        self._in_flight = 0

    @property
    def in_flight(self) -> int:
        """Rounds produced whose records are not all settled (acknowledged, failed or expired)."""
        return self._in_flight

    async def submit(self, events: Sequence[MessageEvent]) -> None:
        """Return once Kafka acknowledged every record holding ``events``; else raise."""
        if not events:
            return
        started = time.perf_counter()
        current = self._gathering or self._open()
        for outcome in current.add(group_by_partition(events, self._partitions)):
            error = await outcome
            if error is not None:
                raise Unavailable(error)
        self._observe(time.perf_counter() - started)

    def _open(self) -> _Round:
        # with nothing in flight and no minimum: the next turn, so that the requests handled
        # in this turn share the round
        delay = self._linger if self._in_flight else self._min_linger
        self._gathering = _Round(
            asyncio.get_running_loop(), self._timeout, self._settled, self._flush, delay
        )
        return self._gathering

    def _settled(self) -> None:
        self._in_flight -= 1
        current = self._gathering
        if self._in_flight or current is None:
            return
        left = current.opened + self._min_linger - current.loop.time()
        if left <= 0:
            self._flush(current)
        else:  # gathered for less than the minimum: produce it when that has passed
            current.start.cancel()
            current.start = current.loop.call_later(left, self._flush, current)

    def _flush(self, current: _Round) -> None:
        if current is not self._gathering:
            return
        self._gathering = None
        current.start.cancel()
        self._in_flight += 1
        for partition, events in list(current.events.items()):
            outcome = current.outcome[partition]
            try:
                records = []
                for key, value in pack(events):
                    records.append(
                        self._producer.produce(self._topic, value, key=key, partition=partition)
                    )
            except Unavailable as exc:
                current.settle(outcome, str(exc))
                continue
            for _ in records:
                self._count_record(len(events) / len(records))
            settle = partial(_settle_partition, records=records, current=current, outcome=outcome)
            if len(records) == 1:
                records[0].add_done_callback(settle)
            else:
                asyncio.gather(*records).add_done_callback(settle)


def _settle_partition(
    _done: asyncio.Future[object],
    *,
    records: list[asyncio.Future[str | None]],
    current: _Round,
    outcome: asyncio.Future[str | None],
) -> None:
    errors = [error for error in (record.result() for record in records) if error is not None]
    current.settle(outcome, f"Kafka did not take the records: {errors[0]}" if errors else None)

"""Stage 1's output, gathered across source records and handed to the producer together.

Each source record used to append its changelog records, one ``message-status`` record and its
attempts to the producer one at a time; with the small records single webhooks make, that fixed
cost per Kafka record was most of the worker's time. Here the table is updated at once (the next
record reads the new state) and the records wait in a buffer until the worker's producer is
flushed, or until the buffer holds ``flush_at`` writes; then they go out as a few large batches.

Why nothing is lost: the worker's Faust producer drains this buffer before every flush
(``streams.faust_transport.WorkerProducer``), and Faust flushes the producer before it commits
source offsets, on rebalance and on shutdown; stage 1 flushes it before sending a partial. So a
committed offset or a sent partial still implies durable table writes, as before. A crash loses
only buffered records of uncommitted source records, which are processed again.

Why the order holds: a segment is closed synchronously, in the order the writes were made, and
segments go to the producer one after another under one lock. A retention sweep (a group that must
land in one Kafka batch) closes the open segment before its own, so a state written before the
sweep can never land after the sweep deleted it.

Each segment also carries the local rows (``streams.aggregates``) as they stand after its writes,
taken when it closes: the store writes both to disk together once Kafka has acknowledged the
segment (``streams.state_store``).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

from contract.events import Attempt, MessageStatus

Write = tuple[bytes, bytes | None]  # a table key and its new value (None: deleted)


@dataclass
class Segment:
    """Records to hand over together, by partition."""

    changelog: dict[int, list[Write]] = field(default_factory=dict)
    statuses: dict[int, list[MessageStatus]] = field(default_factory=dict)
    attempts: dict[int, list[Attempt]] = field(default_factory=dict)
    rows: dict[int, list[Write]] = field(default_factory=dict)  # local rows after its writes
    atomic: bool = False  # its one changelog group must land in one Kafka batch
    size: int = 0

    def add(
        self,
        partition: int,
        writes: Iterable[Write],
        statuses: Iterable[MessageStatus],
        attempts: dict[int, list[Attempt]],
    ) -> None:
        for write in writes:
            self.changelog.setdefault(partition, []).append(write)
            self.size += 1
        for status in statuses:
            self.statuses.setdefault(partition, []).append(status)
            self.size += 1
        for target, items in attempts.items():
            self.attempts.setdefault(target, []).extend(items)
            self.size += len(items)


class WriteBehind:
    """The buffer, its closed segments and the one coroutine at a time that sends them."""

    def __init__(
        self,
        send: Callable[[Segment], Awaitable[None]],
        flush_at: int,
        take_rows: Callable[[], dict[int, list[Write]]] = dict,
    ) -> None:
        self._send = send
        self._flush_at = flush_at
        self._take_rows = take_rows
        self._open = Segment()
        self._closed: deque[Segment] = deque()
        self._lock = asyncio.Lock()

    @property
    def pending(self) -> int:
        return self._open.size + sum(segment.size for segment in self._closed)

    def add(
        self,
        partition: int,
        writes: Iterable[Write],
        statuses: Iterable[MessageStatus] = (),
        attempts: dict[int, list[Attempt]] | None = None,
    ) -> bool:
        """Buffer one source record's output; True when it is time to drain."""
        self._open.add(partition, writes, statuses, attempts or {})
        return self._open.size >= self._flush_at

    def add_atomic(
        self, partition: int, group: list[Write], account: Callable[[], None] = lambda: None
    ) -> None:
        """A changelog group that must land whole, after everything buffered before it.

        ``account`` records the group where the rows come from; it runs once the records
        buffered before are closed into their segment, so their rows do not include the group.
        """
        self._close()
        account()
        segment = Segment(changelog={partition: group}, atomic=True, size=len(group))
        segment.rows = self._take_rows()
        self._closed.append(segment)

    async def drain(self) -> None:
        """Return once everything buffered before the call is with the producer."""
        self._close()
        async with self._lock:
            while self._closed:
                segment = self._closed[0]
                await self._send(segment)
                self._closed.popleft()

    def _close(self) -> None:
        if self._open.size:
            self._open.rows = self._take_rows()
            self._closed.append(self._open)
            self._open = Segment()

"""Stage 1, keyed by message id: every ``ack-events`` record joined into the ``messages`` table.

It writes the ``message-status`` of every message a record touches, keeps per-partition campaign
sums (``streams.aggregates``) and sends those that changed to ``campaign-partials`` — only after
flushing the producer, so a partial never reflects a table write that a crash could still lose.
Why the counts stay exact across crashes: docs/exactness.md.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import msgspec

from contract.events import (
    Attempt,
    DecodeError,
    Dispatch,
    EventBatch,
    MessageEvent,
    MessageStatusBatch,
    decode_event_batch,
    encode,
    skip_message_id,
)
from contract.partitioning import partition_for
from contract.topics import Topics
from streams import metrics
from streams.aggregates import PartitionAggregates, Unsent, sent_marks
from streams.changelog_writer import ChangelogWriter
from streams.dead_letters import DeadLetters
from streams.message_state import EMPTY, MessageState, join, retired_on_erasure, status_record
from streams.retention import Retired, retire, retired_key, sweep
from streams.rocks import FIRST_VALUE_KEY
from streams.settings import WorkerSettings
from streams.state_store import DiskTable
from streams.write_behind import Segment, Write, WriteBehind

log = logging.getLogger(__name__)
T = TypeVar("T")

DAY_SECONDS = 86_400.0
# Stage 1 hands its buffered records over at the latest with this many (streams.write_behind).
WRITE_BEHIND_FLUSH_AT = 4_000
# Statuses or attempts per record: well under Kafka's default 1 MB record limit.
ITEMS_PER_RECORD = 1_000
# Messages a retention sweep reads between two yields to the event loop.
SWEEP_CHUNK = 2_000

_message_decoder = msgspec.json.Decoder(MessageState)
_retired_decoder = msgspec.json.Decoder(Retired)


class MessageStage:
    """The ``messages`` table, its sums, and what stage 1 writes to Kafka."""

    def __init__(
        self,
        settings: WorkerSettings,
        topics: Topics,
        table: DiskTable,
        writer: ChangelogWriter,
        flush: Callable[[], Awaitable[None]],
        dead_letters: DeadLetters,
    ) -> None:
        self.settings = settings
        self.dead_letters = dead_letters
        self.topics = topics
        self.table = table
        self.writer = writer
        self.flush = flush  # the producer's flush (which drains the write-behind first)
        self.partitions = settings.topic_partitions
        self.aggregates = PartitionAggregates()
        self.write_behind = WriteBehind(
            self._send_segment, WRITE_BEHIND_FLUSH_AT, self.aggregates.take_rows
        )

    def load(self, partition: int, key: bytes) -> MessageState | None:
        stored = self.table.store.read(partition, key)
        return None if stored is None else _message_decoder.decode(stored)

    async def process(self, partition: int, value: bytes, offset: int) -> None:
        """Join one ``ack-events`` record into the table."""
        try:
            batch = decode_event_batch(value)
        except DecodeError as exc:
            await self.dead_letters.keep(str(exc), self.topics.ack_events, partition, offset, value)
            return
        before: dict[str, MessageState | None] = {}
        after: dict[str, MessageState] = {}
        for item in batch.events:
            message_id = item.message_id
            if message_id not in after:
                stored = before[message_id] = self.load(partition, message_id.encode())
                after[message_id] = stored or EMPTY
            after[message_id] = join(after[message_id], item)
        now = datetime.now(UTC)
        statuses = []
        writes: list[Write] = []
        erased: list[tuple[str, MessageState | None, MessageState]] = []
        for message_id, new in after.items():
            old = before[message_id]
            if retired_on_erasure(new):
                if old is not None or new.campaign_id:  # else there is nothing to drop or count
                    erased.append((message_id, old, new))
                continue
            if new != (old or EMPTY):
                writes.append((message_id.encode(), encode(new)))
                self.aggregates.apply(partition, old, new)
            if new.campaign_id:
                # written for every message touched, changed or not: a replay after a crash
                # thereby re-sends what the crash may have lost (the sink merges duplicates)
                statuses.append(status_record(message_id, new, now))
        self.table.store.stage(partition, writes)
        metrics.EVENTS.inc(len(batch.events))
        attempts = self._attempts_of(batch.events, after, now)
        full = self.write_behind.add(partition, writes, statuses, attempts)
        for message_id, old, new in erased:
            self._retire_erased(partition, message_id.encode(), old, new)
        if full:
            await self.write_behind.drain()

    def _retire_erased(
        self, partition: int, key: bytes, old: MessageState | None, new: MessageState
    ) -> None:
        """Drop an erased skip (or erased state of no campaign), keeping its count as a sweep
        does: its key may hold the number (docs/operations.md, "Erasure"). Runs after the
        record's other writes were buffered, so their segment's rows do not include it."""
        (group,), _ = retire(partition, [(key, new)], self._retired_of(partition))

        def account() -> None:
            self.aggregates.apply(partition, old, new)
            self.table.store.stage(partition, group)
            self.aggregates.count(partition, -1)

        self.write_behind.add_atomic(partition, group, account)

    def _retired_of(self, partition: int) -> Callable[[str], Retired | None]:
        """A campaign's retired entry in ``partition`` as stored now (None: none yet)."""
        store = self.table.store

        def retired_of(campaign_id: str) -> Retired | None:
            stored = store.read(partition, retired_key(partition, campaign_id))
            return None if stored is None else _retired_decoder.decode(stored)

        return retired_of

    def _attempts_of(
        self, events: list[MessageEvent], after: dict[str, MessageState], now: datetime
    ) -> dict[int, list[Attempt]]:
        """Tell each dispatched recipient's skip state that it was attempted after all.

        Sent for every dispatch seen, new or not, so a replay after a crash re-sends what the
        crash may have lost; the skip state joins them idempotently. Not for an erased message:
        its number must not come back as a skip key.
        """
        by_partition: dict[int, list[Attempt]] = {}
        for item in events:
            if isinstance(item, Dispatch) and item.recipient and not after[item.message_id].erased:
                skip_id = skip_message_id(item.campaign_id, item.recipient)
                attempt = Attempt(message_id=skip_id, received_at=item.received_at or now)
                by_partition.setdefault(partition_for(skip_id, self.partitions), []).append(attempt)
        return by_partition

    async def _send_segment(self, segment: Segment) -> None:
        await self.writer.send_table_writes(self.table, segment)
        for partition, statuses in segment.statuses.items():
            for some in _chunks(statuses, ITEMS_PER_RECORD):
                value = encode(MessageStatusBatch(statuses=some))
                key = some[0].message_id.encode()
                await self.writer.send(self.topics.message_status, key, value, partition)
        for target, attempts in segment.attempts.items():
            for few in _chunks(attempts, ITEMS_PER_RECORD):
                value = encode(EventBatch(events=list[MessageEvent](few)))
                key = few[0].message_id.encode()
                await self.writer.send(self.topics.ack_events, key, value, target)

    def on_recover(self, active: set[int]) -> None:
        """Take the sums of every owned partition from its stored rows (one per campaign: nothing
        here reads the messages) and forget those no longer owned.

        Sums held from before the rebalance are not trusted even for a partition this worker
        kept: in a burst of rebalances a partition can go to another worker, be written there and
        come back before a recovery ends, and sums from before would then send partials that
        undo the other worker's counts. Reading them again is safe: Faust flushed the producer
        (so every write reached the store) when the rebalance began, and nothing was processed
        since."""
        for partition in self.aggregates.partitions - active:
            self.aggregates.drop(partition)
        for partition in active:
            self.aggregates.load(partition, self.table.store.local_rows(partition))
        metrics.TRACKED_MESSAGES.set(self.aggregates.tracked())
        log.info(
            "stage 1 holds partitions %s with %d messages; %d partials to send again",
            sorted(active),
            self.aggregates.tracked(),
            self.aggregates.unsent(),
        )

    async def send_partials(self) -> None:
        """The partials changed since the last call, as prepared batches (after a cold restore,
        tens of thousands with 10,000,000 messages, which Faust's per-record send took seconds
        for); once Kafka has them all, their sent marks go to the store."""
        await self.write_behind.drain()  # stage 1's records go out at least this often
        unsent = self.aggregates.take_dirty()
        if not unsent:
            return
        by_partition: dict[int, list[Write]] = {}
        for partial, _ in unsent:
            target = partition_for(partial.campaign_id, self.partitions)
            by_partition.setdefault(target, []).append(
                (partial.campaign_id.encode(), encode(partial))
            )
        deliveries = []
        try:
            await self.flush()  # the table writes behind these sums are durable now
            for target, records in by_partition.items():
                deliveries += await self.writer.send_many(
                    self.topics.campaign_partials, target, records
                )
        except Exception:
            self.aggregates.mark_dirty(unsent)
            raise
        acknowledged = asyncio.gather(*(future for future, _ in deliveries))
        acknowledged.add_done_callback(lambda done: self._store_marks(done, unsent))
        metrics.PARTIALS.inc(len(unsent))

    def _store_marks(self, acknowledged: asyncio.Future[Any], sent: list[Unsent]) -> None:
        """A refused partial crashes the worker (``ChangelogWriter``) and marks nothing: the
        restart sends it again."""
        if acknowledged.cancelled() or acknowledged.exception() is not None:
            return
        for partition, marks in sent_marks(sent).items():
            self.table.store.write_local(partition, marks)

    async def expire(self, active: set[int], halt: Callable[[], bool]) -> None:
        """Drop the state of messages past their retention, keeping their counts.

        Streams over each partition's database a chunk at a time, until done or ``halt()``;
        see streams.retention for why the counts stay exact.
        """
        now = time.time()
        campaign_cutoff = datetime.fromtimestamp(
            now - self.settings.message_retention_days * DAY_SECONDS, UTC
        )
        orphan_cutoff = datetime.fromtimestamp(
            now - self.settings.orphan_retention_days * DAY_SECONDS, UTC
        )
        store = self.table.store
        dropped = 0
        for partition in sorted(active & self.aggregates.partitions):
            start = FIRST_VALUE_KEY
            while store.holds(partition) and not halt():  # not revoked meanwhile
                keys = store.keys_from(partition, start, SWEEP_CHUNK)
                if not keys:
                    break
                dropped += self._sweep_chunk(partition, keys, campaign_cutoff, orphan_cutoff)
                start = keys[-1] + b"\x00"
                await asyncio.sleep(0)
        await self.write_behind.drain()
        if dropped:
            log.info("dropped the state of %d expired messages", dropped)

    def _sweep_chunk(
        self,
        partition: int,
        keys: list[bytes],
        campaign_cutoff: datetime,
        orphan_cutoff: datetime,
    ) -> int:
        """Retire what has expired among ``keys``, reading their current states (acknowledged
        or not). Runs without yielding, so no event can touch a message between being read and
        being retired."""
        store = self.table.store
        items = []
        for key in keys:
            state = self.load(partition, key)
            if state is not None:
                items.append((key, state))
        retired_of = self._retired_of(partition)
        groups, _ = sweep(partition, items, retired_of, campaign_cutoff, orphan_cutoff)
        dropped = 0
        for group in groups:
            deletes = sum(1 for key, value in group if value is None)

            def account(group: list[Write] = group, deletes: int = deletes) -> None:
                store.stage(partition, group)
                self.aggregates.count(partition, -deletes)

            self.write_behind.add_atomic(partition, group, account)
            dropped += deletes
        return dropped


def _chunks(items: list[T], size: int) -> list[list[T]]:
    return [items[start : start + size] for start in range(0, len(items), size)]

"""The sink's buffer: when a batch is due, and how a failed batch is retried with what followed."""

from __future__ import annotations

from datetime import UTC, datetime

from contract.events import MessageStatus, MessageStatusBatch
from sink.buffer import Buffer
from sink.records import DeadLetter, Item, Origin

T0 = datetime(2026, 11, 25, tzinfo=UTC)


def item(partition: int, offset: int, statuses: int = 3) -> Item:
    status = MessageStatus(
        message_id="m",
        campaign_id="c",
        workspace_id="w",
        recipient="",
        status="sent",
        max_rank=1,
        failed=False,
        updated_at=T0,
    )
    batch = MessageStatusBatch(statuses=[status] * statuses)
    return Item(Origin("ms", partition, offset), batch)


def test_a_batch_is_due_when_full_or_old_enough() -> None:
    buffer = Buffer()
    assert not buffer.due(100.0, max_rows=5, max_seconds=0.2)
    buffer.add(item(0, 10), now=100.0)
    assert not buffer.due(100.1, max_rows=5, max_seconds=0.2)
    assert buffer.due(100.2, max_rows=5, max_seconds=0.2)
    buffer.add(item(0, 11), now=100.1)
    assert buffer.rows == 6
    assert buffer.due(100.0, max_rows=5, max_seconds=0.2)


def test_dead_letters_count_and_advance_the_offsets() -> None:
    buffer = Buffer()
    buffer.add(DeadLetter(Origin("ms", 1, 40), "bad", None, b"x"), now=1.0)
    assert (buffer.rows, buffer.next_offsets) == (1, {("ms", 1): 41})


def test_a_retried_batch_keeps_log_order_and_the_latest_offsets() -> None:
    failed, later = Buffer(), Buffer()
    failed.add(item(0, 5), now=1.0)
    failed.add(item(1, 7), now=1.5)
    later.add(item(0, 6), now=2.0)
    merged = failed.then(later)
    assert [(i.origin.partition, i.origin.offset) for i in merged.items] == [(0, 5), (1, 7), (0, 6)]
    assert merged.next_offsets == {("ms", 0): 7, ("ms", 1): 8}
    assert (merged.rows, merged.since) == (9, 1.0)
    assert Buffer().then(later).since == 2.0

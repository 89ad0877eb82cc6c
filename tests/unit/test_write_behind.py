"""Stage 1's buffered records reach the producer complete and in the order they were made."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from contract.events import Attempt, MessageStatus
from streams.write_behind import Segment, WriteBehind

AT = datetime(2026, 11, 25, tzinfo=UTC)


def status(message_id: str) -> MessageStatus:
    return MessageStatus(
        message_id=message_id,
        campaign_id="c",
        workspace_id="w",
        recipient="r",
        status="sent",
        max_rank=1,
        failed=False,
        updated_at=AT,
    )


class Producer:
    """Records what was handed over, in order; optionally slow, to let others interleave."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.segments: list[Segment] = []

    async def send(self, segment: Segment) -> None:
        await asyncio.sleep(self.delay)
        self.segments.append(segment)

    def writes(self) -> list[tuple[int, bytes, bytes | None]]:
        return [
            (partition, key, value)
            for segment in self.segments
            for partition, items in segment.changelog.items()
            for key, value in items
        ]


async def test_nothing_leaves_before_a_drain_and_everything_after_it() -> None:
    producer = Producer()
    buffer = WriteBehind(producer.send, flush_at=100)
    attempt = Attempt(message_id="skip:c:1", received_at=AT)
    assert not buffer.add(0, [(b"m1", b"v1")], [status("m1")], {3: [attempt]})
    assert not buffer.add(1, [(b"m2", b"v2")], [status("m2")])
    assert producer.segments == [] and buffer.pending == 5
    await buffer.drain()
    assert producer.writes() == [(0, b"m1", b"v1"), (1, b"m2", b"v2")]
    (segment,) = producer.segments
    assert [s.message_id for s in segment.statuses[0] + segment.statuses[1]] == ["m1", "m2"]
    assert segment.attempts == {3: [attempt]}
    assert buffer.pending == 0
    await buffer.drain()  # nothing new: nothing sent
    assert len(producer.segments) == 1


async def test_add_says_when_the_buffer_is_full() -> None:
    buffer = WriteBehind(Producer().send, flush_at=3)
    assert not buffer.add(0, [(b"a", b"1"), (b"b", b"1")])
    assert buffer.add(0, [(b"c", b"1")])


async def test_an_atomic_group_lands_after_what_was_written_before_it() -> None:
    producer = Producer()
    buffer = WriteBehind(producer.send, flush_at=100)
    buffer.add(0, [(b"old", b"state")])
    buffer.add_atomic(0, [(b"retired", b"sums"), (b"old", None)])
    buffer.add(0, [(b"old", b"new state")])  # written again after the sweep deleted it
    await buffer.drain()
    assert producer.writes() == [
        (0, b"old", b"state"),
        (0, b"retired", b"sums"),
        (0, b"old", None),
        (0, b"old", b"new state"),
    ]
    assert [s.atomic for s in producer.segments] == [False, True, False]


async def test_concurrent_drains_keep_the_order_of_the_writes() -> None:
    producer = Producer(delay=0.01)
    buffer = WriteBehind(producer.send, flush_at=100)
    written: list[bytes] = []

    async def writer(name: str) -> None:
        for i in range(20):
            key = f"{name}{i}".encode()
            written.append(key)
            buffer.add(0, [(key, b"v")])
            if i % 3 == 0:
                await buffer.drain()
            await asyncio.sleep(0)

    await asyncio.gather(writer("a"), writer("b"), buffer.drain())
    await buffer.drain()
    assert [key for _, key, _ in producer.writes()] == written


async def test_a_drain_covers_everything_added_before_it_even_when_another_is_running() -> None:
    producer = Producer(delay=0.02)
    buffer = WriteBehind(producer.send, flush_at=100)
    buffer.add(0, [(b"first", b"v")])
    running = asyncio.ensure_future(buffer.drain())
    await asyncio.sleep(0)  # the first drain is now sending
    buffer.add(0, [(b"second", b"v")])
    await buffer.drain()
    assert [key for _, key, _ in producer.writes()] == [b"first", b"second"]
    await running


async def test_a_failed_send_keeps_the_segment_for_the_next_drain() -> None:
    calls = 0
    sent: list[Segment] = []

    async def flaky(segment: Segment) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError("broker gone")
        sent.append(segment)

    buffer = WriteBehind(flaky, flush_at=100)
    buffer.add(0, [(b"k", b"v")])
    with pytest.raises(ConnectionError):
        await buffer.drain()
    assert buffer.pending == 1
    await buffer.drain()
    assert [items for s in sent for items in s.changelog.values()] == [[(b"k", b"v")]]

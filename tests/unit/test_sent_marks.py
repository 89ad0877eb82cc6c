"""Sent marks (streams.aggregates): a restarted stage 1 sends only the partials stage 2 may lack,
and whatever a crash interrupts, stage 2 ends up holding every campaign's stored sums.

The model follows the worker's order of things: table writes reach the changelog before a partial
reflecting them is sent (the producer is flushed first), reach the disk after the changelog
acknowledged them (with the rows as they stood), and a partial's mark reaches the disk after Kafka
acknowledged the partial, in a write of its own. A crash loses what is only in memory; a partial in
flight at the crash may or may not have reached stage 2; the restart reads the changelog's tail
into the disk (``replayed_rows``) and loads the rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from contract.events import AckEvent, CampaignPartial, Dispatch, MessageEvent, encode
from streams.aggregates import PartitionAggregates, Unsent, replayed_rows, sent_key, sent_marks
from streams.message_state import EMPTY, MessageState, join
from streams.rocks import LOCAL_PREFIX
from streams.write_behind import Write

T0 = datetime(2026, 11, 1, tzinfo=UTC)
IDS = ["a", "b", "c", "d"]

event = st.one_of(
    st.builds(
        AckEvent,
        message_id=st.sampled_from(IDS),
        status=st.sampled_from(["sent", "delivered", "read", "failed"]),
        received_at=st.integers(0, 9).map(lambda s: T0 + timedelta(seconds=s)),
    ),
    st.builds(
        Dispatch,
        message_id=st.sampled_from(IDS),
        campaign_id=st.sampled_from(["c1", "c2"]),
        workspace_id=st.just("w1"),
        dispatched_at=st.integers(0, 9).map(lambda s: T0 + timedelta(seconds=s)),
        received_at=st.just(T0),
    ),
)
steps = st.lists(
    st.one_of(
        event,
        st.sampled_from(["flush", "persist", "send", "acknowledge", "mark", "settle", "crash"]),
    ),
    max_size=60,
)


@dataclass
class Worker:
    """One stage-1 partition: its disk, its changelog, what stage 2 holds, and memory."""

    disk: dict[bytes, bytes] = field(default_factory=dict)
    changelog: list[Write] = field(default_factory=list)
    persisted: int = 0  # changelog records on disk
    stage2: dict[str, CampaignPartial] = field(default_factory=dict)
    live: PartitionAggregates = field(default_factory=PartitionAggregates)
    table: dict[str, MessageState] = field(default_factory=dict)
    buffered: list[Write] = field(default_factory=list)  # not in the changelog yet
    unpersisted: list[tuple[int, list[Write]]] = field(default_factory=list)  # (end, rows)
    in_flight: list[list[Unsent]] = field(default_factory=list)  # partials sent, not acked
    unmarked: list[list[Unsent]] = field(default_factory=list)  # acked, marks not stored
    resent: int = 0  # partials sent by restarts

    def process(self, item: MessageEvent) -> None:
        old = self.table.get(item.message_id)
        new = join(old or EMPTY, item)
        if new != (old or EMPTY):
            self.table[item.message_id] = new
            self.buffered.append((item.message_id.encode(), encode(new)))
            self.live.apply(0, old, new)

    def flush(self) -> None:
        """The changelog acknowledges the buffered writes; the disk gets them later."""
        self.changelog += self.buffered
        self.buffered = []
        self.unpersisted.append((len(self.changelog), self.live.take_rows().get(0, [])))

    def persist(self) -> None:
        for end, rows in self.unpersisted:
            self._write(self.changelog[self.persisted : end] + rows)
            self.persisted = end
        self.unpersisted = []

    def send(self) -> int:
        self.flush()  # as send_partials does: the writes behind the sums first
        unsent = self.live.take_dirty()
        self.in_flight.append(unsent)
        return len(unsent)

    def acknowledge(self) -> None:
        for unsent in self.in_flight:
            self.stage2.update((u.partial.campaign_id, u.partial) for u in unsent)
            self.unmarked.append(unsent)
        self.in_flight = []

    def mark(self) -> None:
        for unsent in self.unmarked:
            self._write(sent_marks(unsent).get(0, []))
        self.unmarked = []

    def crash(self, delivered: bool) -> None:
        """Memory is lost; the partials in flight reached stage 2 or not; then the restart."""
        if delivered:
            for unsent in self.in_flight:
                self.stage2.update((u.partial.campaign_id, u.partial) for u in unsent)
        self.buffered, self.unpersisted, self.in_flight, self.unmarked = [], [], [], []
        tail = self.changelog[self.persisted :]
        self._write(tail + replayed_rows(self.disk.get, tail))
        self.persisted = len(self.changelog)
        self.live = PartitionAggregates()
        self.live.load(0, sorted((k, v) for k, v in self.disk.items() if k >= LOCAL_PREFIX))
        self.table = {
            k.decode(): msgspec.json.decode(v, type=MessageState)
            for k, v in self.disk.items()
            if not k.startswith(b"\x00")
        }
        self.resent += self.send()

    def _write(self, writes: list[Write]) -> None:
        for key, value in writes:
            if value is None:
                self.disk.pop(key, None)
            else:
                self.disk[key] = value

    def stored_partials(self) -> dict[str, CampaignPartial]:
        """Every campaign's partial from the rows on disk, marked sent or not."""
        rows = [(k, v) for k, v in self.disk.items() if _local(k) and not _mark(k)]
        stored = PartitionAggregates()
        stored.load(0, sorted(rows))
        return {u.partial.campaign_id: u.partial for u in stored.take_dirty()}

    def settle(self) -> None:
        """Everything goes out and lands: what a worker reaches when no event comes."""
        self.send()
        self.persist()
        self.acknowledge()
        self.mark()


def _local(key: bytes) -> bool:
    return key.startswith(LOCAL_PREFIX)


def _mark(key: bytes) -> bool:
    return key.startswith(sent_key(""))


@settings(max_examples=400)
@given(steps, st.lists(st.booleans(), min_size=60, max_size=60))
def test_stage_2_holds_the_stored_sums_whatever_a_crash_interrupts(
    taken: list[MessageEvent | str], delivered: list[bool]
) -> None:
    worker = Worker()
    for step, reached in zip(taken, delivered, strict=False):
        if isinstance(step, str):
            if step == "crash":
                worker.crash(reached)
            else:
                getattr(worker, step)()
        else:
            worker.process(step)
    worker.settle()
    assert worker.stage2 == worker.stored_partials()


@settings(max_examples=200)
@given(steps)
def test_a_restart_after_everything_went_out_sends_nothing(taken: list[MessageEvent | str]) -> None:
    """A SIGTERM: the worker stopped with every partial sent, acknowledged and marked."""
    worker = Worker()
    for step in taken:
        if isinstance(step, str):
            if step != "crash":
                getattr(worker, step)()
        else:
            worker.process(step)
    worker.settle()
    worker.crash(delivered=True)
    assert worker.resent == 0
    assert worker.stage2 == worker.stored_partials()


def test_a_restart_sends_what_changed_after_the_last_mark() -> None:
    worker = Worker()
    worker.process(Dispatch(message_id="a", campaign_id="c1", workspace_id="w1", received_at=T0))
    worker.process(Dispatch(message_id="b", campaign_id="c2", workspace_id="w1", received_at=T0))
    worker.settle()
    worker.process(AckEvent(message_id="a", status="delivered", received_at=T0))
    worker.send()
    worker.persist()
    worker.crash(delivered=False)  # c1's new partial never reached stage 2
    assert worker.resent == 1
    worker.settle()
    assert worker.stage2["c1"].counters.delivered == 1
    assert worker.stage2 == worker.stored_partials()


def test_a_restart_sends_the_rows_the_changelog_tail_changes() -> None:
    """The changelog took a write the disk missed: its row on disk is marked, the replay moves
    it on."""
    worker = Worker()
    worker.process(Dispatch(message_id="a", campaign_id="c1", workspace_id="w1", received_at=T0))
    worker.settle()
    worker.process(AckEvent(message_id="a", status="read", received_at=T0))
    worker.flush()
    worker.crash(delivered=False)
    assert worker.resent == 1
    worker.settle()
    assert worker.stage2["c1"].counters.read == 1


def test_rows_read_from_a_changelog_are_always_sent() -> None:
    """A replay gives a row a change no mark names: this worker never sent it."""
    worker = Worker()
    worker.process(Dispatch(message_id="a", campaign_id="c1", workspace_id="w1", received_at=T0))
    worker.settle()
    marks = {k: v for k, v in worker.disk.items() if _mark(k)}
    standby = Worker(disk=dict(marks), changelog=list(worker.changelog))
    standby.crash(delivered=False)
    assert standby.resent == 1

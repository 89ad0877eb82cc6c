"""Stage 1's sums as the store keeps them (streams.aggregates): the rows written while processing
events equal the rows a replay of the changelog derives, however much of it is replayed again."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from contract.events import AckEvent, Counters, Dispatch, MessageEvent, Skip, encode
from streams.aggregates import (
    COUNT_KEY,
    CampaignSum,
    PartitionAggregates,
    replayed_rows,
    sum_key,
)
from streams.message_state import EMPTY, MessageState, join
from streams.retention import Retired, retired_key
from streams.write_behind import Write

T0 = datetime(2026, 11, 1, tzinfo=UTC)
IDS = ["a", "b", "c", "d", "e"]

events = st.lists(
    st.one_of(
        st.builds(
            AckEvent,
            message_id=st.sampled_from(IDS),
            status=st.sampled_from(["sent", "delivered", "read", "failed"]),
            received_at=st.integers(0, 9).map(lambda s: T0 + timedelta(seconds=s)),
            occurred_at=st.none()
            | st.integers(0, 200_000).map(lambda s: T0 + timedelta(seconds=s)),
            error_code=st.sampled_from(["", "131026", "63016"]),
            error_title=st.sampled_from(["", "undeliverable", "window"]),
        ),
        st.builds(
            Dispatch,
            message_id=st.sampled_from(IDS),
            campaign_id=st.sampled_from(["c1", "c2"]),
            workspace_id=st.just("w1"),
            recipient=st.just("+1"),
            dispatched_at=st.integers(0, 9).map(lambda s: T0 + timedelta(seconds=s)),
            received_at=st.just(T0),
            variant=st.sampled_from(["", "A", "B"]),
            template=st.sampled_from(["", "welcome"]),
            tags=st.lists(st.sampled_from(["vip", "new", "a:b"]), max_size=3),
        ),
        st.builds(
            Skip,
            message_id=st.just("skip:c1:+9"),
            campaign_id=st.just("c1"),
            workspace_id=st.just("w1"),
            recipient=st.just("+9"),
            received_at=st.just(T0),
        ),
    ),
    max_size=40,
)


def process(events: list[MessageEvent]) -> tuple[PartitionAggregates, list[Write]]:
    """What stage 1 does: join, write changed states, move their contributions."""
    live = PartitionAggregates()
    table: dict[str, MessageState] = {}
    changelog: list[Write] = []
    for event in events:
        old = table.get(event.message_id)
        new = join(old or EMPTY, event)
        if new != (old or EMPTY):
            table[event.message_id] = new
            changelog.append((event.message_id.encode(), encode(new)))
            live.apply(0, old, new)
    return live, changelog


def replay(store: dict[bytes, bytes], writes: list[Write]) -> None:
    """What the store does with changelog records: values and derived rows in one batch."""
    rows = replayed_rows(store.get, writes)
    for key, value in [*writes, *rows]:
        if value is None:
            store.pop(key, None)
        else:
            store[key] = value


def rows_of(store: Mapping[bytes, bytes | None]) -> dict[bytes, bytes | None]:
    """The sums and the count, each row with its change token left out (a replay gives rows new
    tokens: the sums are what must agree)."""
    return {
        k: v if k == COUNT_KEY else _without_change(v)
        for k, v in store.items()
        if k == COUNT_KEY or k.startswith(sum_key(""))
    }


def _without_change(row: bytes | None) -> bytes | None:
    if row is None:
        return None
    decoded = msgspec.json.decode(row, type=CampaignSum)
    return msgspec.json.encode(msgspec.structs.replace(decoded, change=0))


@settings(max_examples=300)
@given(events)
def test_the_rows_written_live_equal_a_replay_of_the_changelog(events: list[MessageEvent]) -> None:
    live, changelog = process(events)
    store: dict[bytes, bytes] = {}
    replay(store, changelog)
    assert rows_of(dict(live.take_rows().get(0, []))) == rows_of(store)


@settings(max_examples=300)
@given(events, st.data())
def test_replaying_records_the_store_already_holds_changes_nothing(
    events: list[MessageEvent], data: st.DataObject
) -> None:
    """A crash can leave the store's offset behind what it holds; replaying from there again
    (in batches of any size) gives the same values and rows as replaying once."""
    _, changelog = process(events)
    once: dict[bytes, bytes] = {}
    replay(once, changelog)
    cut = data.draw(st.integers(0, len(changelog)))
    again_from = data.draw(st.integers(0, cut))
    size = data.draw(st.integers(1, 5))
    twice: dict[bytes, bytes] = {}
    replay(twice, changelog[:cut])
    rest = changelog[again_from:]
    for start in range(0, len(rest), size):
        replay(twice, rest[start : start + size])
    assert rows_of(twice) == rows_of(once)
    assert {k: v for k, v in twice.items() if k not in rows_of(twice)} == {
        k: v for k, v in once.items() if k not in rows_of(once)
    }


@settings(max_examples=200)
@given(events)
def test_loading_the_rows_gives_the_live_sums(events: list[MessageEvent]) -> None:
    live, changelog = process(events)
    store: dict[bytes, bytes] = {}
    replay(store, changelog)
    loaded = PartitionAggregates()
    loaded.load(0, sorted(store.items()))
    for campaign in ("c1", "c2"):
        assert loaded.counters(0, campaign) == live.counters(0, campaign)
        assert loaded.started_at(0, campaign) == live.started_at(0, campaign)
    assert loaded.tracked() == live.tracked() == len({e.message_id for e in events})
    assert [u.partial for u in loaded.take_dirty()] == [u.partial for u in live.take_dirty()]


def test_a_retired_entry_replaces_the_messages_it_counts() -> None:
    """A retention group (entry + deletes) moves counts, it does not change them."""
    delivered = MessageState(campaign_id="c1", workspace_id="w1", max_rank=2, dispatched_at=T0)
    store: dict[bytes, bytes] = {}
    replay(store, [(b"m1", encode(delivered)), (b"m2", encode(delivered))])
    before = rows_of(store)
    entry = Retired(
        campaign_id="c1",
        workspace_id="w1",
        partition=0,
        counters=Counters(dispatched=2, sent=2, delivered=2),
        started_at=T0,
    )
    replay(store, [(retired_key(0, "c1"), encode(entry)), (b"m1", None), (b"m2", None)])
    after = rows_of(store)
    assert after[sum_key("c1")] == before[sum_key("c1")]
    assert after[COUNT_KEY] == b"0" and before[COUNT_KEY] == b"2"


def test_rows_are_taken_once_and_then_only_what_changed() -> None:
    live = PartitionAggregates()
    state = MessageState(campaign_id="c1", workspace_id="w1", max_rank=1)
    live.apply(3, None, state)
    assert {key for key, _ in live.take_rows()[3]} == {sum_key("c1"), COUNT_KEY}
    assert live.take_rows() == {}
    live.apply(3, state, MessageState(campaign_id="c1", workspace_id="w1", max_rank=2))
    assert [key for key, _ in live.take_rows()[3]] == [sum_key("c1")]

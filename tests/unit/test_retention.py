"""Dropping expired message state keeps every campaign's counters, whatever part of a sweep a
crash lets through (each group of writes lands whole or not at all)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from contract.events import CampaignPartial, encode
from streams.aggregates import PartitionAggregates, replayed_rows
from streams.message_state import MessageState
from streams.retention import CHUNK, Retired, is_retired_key, retired_key, sweep
from streams.write_behind import Write

T0 = datetime(2026, 11, 1, tzinfo=UTC)
CUTOFF = T0 + timedelta(days=30)
NOTHING_RETIRED: dict[str, Retired] = {}  # a partition that retired no campaign yet

states = st.builds(
    MessageState,
    max_rank=st.integers(0, 4),
    failed=st.booleans(),
    campaign_id=st.sampled_from(["", "c1", "c2"]),
    workspace_id=st.just("w1"),
    last_event_at=st.integers(0, 60).map(lambda d: T0 + timedelta(days=d)),
    dispatched_at=st.none() | st.just(T0),
    sent_at=st.none() | st.integers(0, 100).map(lambda s: T0 + timedelta(seconds=s)),
    read_at=st.none() | st.integers(0, 100_000).map(lambda s: T0 + timedelta(seconds=s)),
    error_code=st.sampled_from(["", "131026"]),
    error_title=st.sampled_from(["", "undeliverable"]),
    variant=st.sampled_from(["", "A"]),
)
tables = st.dictionaries(st.integers(0, 5000).map(lambda i: f"m{i}".encode()), states, max_size=60)


def sums(
    table: dict[bytes, MessageState], retired: dict[str, Retired]
) -> dict[str, CampaignPartial]:
    """The sums a store holding these states and entries keeps (streams.aggregates): counters,
    breakdowns and failure titles."""
    writes: list[Write] = [(key, encode(state)) for key, state in table.items()]
    writes += [(retired_key(0, c), encode(entry)) for c, entry in retired.items()]
    store: dict[bytes, bytes] = {}
    store.update((k, v) for k, v in replayed_rows(store.get, writes) if v is not None)
    aggregates = PartitionAggregates()
    aggregates.load(0, store.items())
    return {u.partial.campaign_id: u.partial for u in aggregates.take_dirty()}


def apply(
    table: dict[bytes, MessageState], retired: dict[str, Retired], group: list[Write]
) -> None:
    for key, value in group:
        if is_retired_key(key):
            assert value is not None
            entry = msgspec.json.decode(value, type=Retired)
            retired[entry.campaign_id] = entry
        else:
            assert value is None
            table.pop(key, None)


@settings(max_examples=300)
@given(tables, st.integers(0, 10))
def test_a_sweep_keeps_the_counters_after_any_prefix_of_its_groups(
    table: dict[bytes, MessageState], crash_after: int
) -> None:
    before = sums(table, {})
    groups, final = sweep(
        0, table.items(), NOTHING_RETIRED.get, CUTOFF, CUTOFF - timedelta(days=29)
    )
    remaining: dict[bytes, MessageState] = dict(table)
    retired: dict[str, Retired] = {}
    for group in groups[:crash_after]:
        apply(remaining, retired, group)
        assert sums(remaining, retired) == before
    for group in groups[crash_after:]:
        apply(remaining, retired, group)
    assert retired == {c: e for c, e in final.items()}
    assert sums(remaining, retired) == before
    assert all(
        s.last_event_at is not None and s.last_event_at >= CUTOFF
        for s in remaining.values()
        if s.campaign_id
    )


@settings(max_examples=100)
@given(tables)
def test_sweeping_again_changes_nothing(table: dict[bytes, MessageState]) -> None:
    groups, retired = sweep(0, table.items(), NOTHING_RETIRED.get, CUTOFF, CUTOFF)
    remaining: dict[bytes, MessageState] = dict(table)
    entries: dict[str, Retired] = {}
    for group in groups:
        apply(remaining, entries, group)
    again, retired_again = sweep(0, remaining.items(), retired.get, CUTOFF, CUTOFF)
    assert again == [] and retired_again == {}


def test_orphans_go_after_their_own_shorter_retention() -> None:
    orphan = MessageState(last_event_at=T0 + timedelta(days=2))
    member = MessageState(campaign_id="c1", workspace_id="w", last_event_at=T0 + timedelta(days=2))
    groups, retired = sweep(
        0, [(b"o", orphan), (b"m", member)], NOTHING_RETIRED.get, T0, T0 + timedelta(days=3)
    )
    assert groups == [[(b"o", None)]]
    assert retired == {}


def test_groups_stay_small_enough_for_one_batch() -> None:
    table = [
        (f"m{i}".encode(), MessageState(campaign_id="c1", max_rank=2, last_event_at=T0))
        for i in range(CHUNK * 2 + 5)
    ]
    groups, retired = sweep(3, table, NOTHING_RETIRED.get, CUTOFF, CUTOFF)
    assert [len(g) for g in groups] == [CHUNK + 1, CHUNK + 1, 6]
    assert all(g[0][0] == retired_key(3, "c1") for g in groups)
    assert retired["c1"].counters.delivered == CHUNK * 2 + 5

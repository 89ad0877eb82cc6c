"""Stage 2: partials replace each other, windows add up to the counters, snapshots follow the
counters of docs/contract.md."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from contract.events import CampaignPartial, CampaignRegistration, Counters
from streams.campaign_state import (
    CampaignState,
    apply_partial,
    apply_registration,
    due_windows,
    mark_emitted,
    snapshot,
    totals,
)
from streams.stats import sum_counters

WINDOW = 1000
NOW = datetime(2026, 11, 1, tzinfo=UTC)

counters = st.builds(
    Counters,
    dispatched=st.integers(0, 100),
    sent=st.integers(0, 100),
    delivered=st.integers(0, 100),
    read=st.integers(0, 100),
    played=st.integers(0, 100),
    failed=st.integers(0, 100),
)
partials = st.lists(
    st.builds(
        CampaignPartial,
        campaign_id=st.just("c1"),
        workspace_id=st.just("w1"),
        source_partition=st.integers(0, 3),
        counters=counters,
    ),
    min_size=1,
    max_size=30,
)


@settings(max_examples=300)
@given(partials, st.lists(st.integers(0, 5000), min_size=30, max_size=30))
def test_windows_add_up_to_the_latest_partials(
    items: list[CampaignPartial], times: list[int]
) -> None:
    state = CampaignState(campaign_id="c1")
    latest: dict[int, Counters] = {}
    for item, at in zip(items, sorted(times), strict=False):
        state = apply_partial(state, item, at, WINDOW)
        state = apply_partial(state, item, at, WINDOW)  # a replay changes nothing
        latest[item.source_partition] = item.counters
    assert totals(state) == sum_counters(list(latest.values()))
    assert sum_counters(list(state.windows.values())) == totals(state)


@settings(max_examples=200)
@given(partials, st.lists(st.integers(0, 5000), min_size=30, max_size=30))
def test_emitting_windows_keeps_the_counters(
    items: list[CampaignPartial], times: list[int]
) -> None:
    state = CampaignState(campaign_id="c1", total_recipients=50)
    emitted = []
    for item, at in zip(items, sorted(times), strict=False):
        for start in due_windows(state, at, WINDOW):
            emitted.append(snapshot(state, start, WINDOW, NOW))
            state = mark_emitted(state, start)
        state = apply_partial(state, item, at, WINDOW)
    for start in due_windows(state, 10_000, WINDOW):
        emitted.append(snapshot(state, start, WINDOW, NOW))
        state = mark_emitted(state, start)
    assert not state.windows
    final = totals(state)
    last = emitted[-1].statistics
    assert (last.total_sent_count, last.total_failed_count, last.dispatched_count) == (
        final.sent,
        final.failed,
        final.dispatched,
    )
    assert sum(s.window.sent for s in emitted) == final.sent
    seqs = [s.seq for s in emitted]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)


def test_snapshot_math_follows_the_documented_counters() -> None:
    state = CampaignState(campaign_id="c1", uuid="u1", workspace_id="w1", total_recipients=1000)
    state = apply_partial(
        state,
        CampaignPartial(
            campaign_id="c1",
            workspace_id="w1",
            source_partition=0,
            counters=Counters(
                dispatched=1000, sent=950, delivered=920, read=450, played=3, failed=50
            ),
        ),
        500,
        WINDOW,
    )
    snap = snapshot(state, 0, WINDOW, NOW)
    stats = snap.statistics
    assert snap.seq == 1000 and snap.campaign_uuid == "u1"
    assert stats.pending_count == 0
    assert (stats.delivery_rate, stats.read_rate, stats.success_rate) == (96.84, 48.91, 95.0)
    assert snap.window.sent == 950


def test_a_late_window_reports_counters_as_at_its_end() -> None:
    state = CampaignState(campaign_id="c1")
    one = Counters(dispatched=1, sent=1)
    two = Counters(dispatched=2, sent=2)
    state = apply_partial(
        state,
        CampaignPartial(campaign_id="c1", workspace_id="w", source_partition=0, counters=one),
        100,
        WINDOW,
    )
    state = apply_partial(
        state,
        CampaignPartial(campaign_id="c1", workspace_id="w", source_partition=0, counters=two),
        1500,
        WINDOW,
    )
    assert snapshot(state, 0, WINDOW, NOW).statistics.total_sent_count == 1
    assert snapshot(state, 1000, WINDOW, NOW).statistics.total_sent_count == 2


def test_registration_sets_the_workspace_once_and_earns_a_snapshot() -> None:
    state = CampaignState(campaign_id="c1")
    reg = CampaignRegistration(
        campaign_id="c1", workspace_id="w1", name="Black Friday", total_recipients=10
    )
    state = apply_registration(state, reg, 100, WINDOW)
    assert due_windows(state, 1000, WINDOW) == [0]
    moved = CampaignRegistration(campaign_id="c1", workspace_id="w2", total_recipients=10)
    assert apply_registration(state, moved, 200, WINDOW).workspace_id == "w1"
    assert snapshot(state, 0, WINDOW, NOW).statistics.pending_count == 10


def test_a_clock_going_back_never_reopens_an_emitted_window() -> None:
    state = mark_emitted(CampaignState(campaign_id="c1"), 5000)
    item = CampaignPartial(
        campaign_id="c1", workspace_id="w", source_partition=0, counters=Counters(sent=1)
    )
    state = apply_partial(state, item, 1200, WINDOW)
    assert list(state.windows) == [6000]

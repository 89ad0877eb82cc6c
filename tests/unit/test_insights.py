"""The breakdowns (docs/insights.md) through stage 1's sums and stage 2's partials: exact in any
order, with duplicates, and consistent with the counters."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from contract.events import (
    AckEvent,
    Attempt,
    CampaignPartial,
    Counters,
    Dispatch,
    Insights,
    MessageEvent,
    Skip,
)
from contract.insights import BOUNDS_SECONDS, BUCKETS, bucket_of, percentile_bucket, percentiles
from streams.aggregates import PartitionAggregates
from streams.campaign_state import CampaignState, apply_partial, due_windows, snapshot
from streams.insights import insights_of
from streams.message_state import EMPTY, MessageState, join

T0 = datetime(2026, 11, 1, tzinfo=UTC)
WINDOW = 1000
IDS = [f"m{i}" for i in range(8)]
SKIP_IDS = ["skip:c1:+1", "skip:c1:+2"]
PARTITIONS = 3


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


events = st.lists(
    st.one_of(
        st.builds(
            AckEvent,
            message_id=st.sampled_from(IDS),
            status=st.sampled_from(["sent", "delivered", "read", "played", "failed"]),
            received_at=st.just(at(5)),
            occurred_at=st.none() | st.integers(-5, 200_000).map(at),
            error_code=st.sampled_from(["", "131026", "63016"]),
            error_title=st.sampled_from(["", "undeliverable", "window"]),
        ),
        st.builds(
            Dispatch,
            message_id=st.sampled_from(IDS),
            campaign_id=st.just("c1"),
            workspace_id=st.just("w1"),
            dispatched_at=st.integers(0, 9).map(at),
            variant=st.sampled_from(["", "A", "B"]),
            template=st.sampled_from(["", "welcome"]),
            tags=st.lists(st.sampled_from(["vip", "new", "a:b"]), max_size=3),
        ),
        st.builds(
            Skip,
            message_id=st.sampled_from(SKIP_IDS),
            campaign_id=st.just("c1"),
            workspace_id=st.just("w1"),
            recipient=st.just("+1"),
            received_at=st.just(at(1)),
            reason_code=st.sampled_from(["", "opted_out", "invalid"]),
            reason=st.sampled_from(["", "asked to stop"]),
        ),
        st.builds(Attempt, message_id=st.sampled_from(SKIP_IDS), received_at=st.just(at(2))),
    ),
    max_size=40,
)


def counted(events: list[MessageEvent], seed: int) -> CampaignState:
    """Stage 1 (messages spread over partitions) and stage 2 (partials in a shuffled order,
    each applied twice as a replay would), as the worker runs them."""
    aggregates = PartitionAggregates()
    table: dict[str, MessageState] = {}
    for event in events:
        old = table.get(event.message_id)
        new = join(old or EMPTY, event)
        if new != (old or EMPTY):
            table[event.message_id] = new
            aggregates.apply(sum(map(ord, event.message_id)) % PARTITIONS, old, new)
    partials = [unsent.partial for unsent in aggregates.take_dirty()]
    random.Random(seed).shuffle(partials)
    state = CampaignState(campaign_id="c1")
    for partial in partials + partials:
        state = apply_partial(state, partial, 0, WINDOW)
    return state


def insights_now(state: CampaignState) -> Insights | None:
    windows = due_windows(state, 10 * WINDOW, WINDOW)
    return snapshot(state, windows[-1], WINDOW, T0).insights if windows else None


@settings(max_examples=300)
@given(events, st.randoms(use_true_random=False), st.integers(0, 1000))
def test_any_order_and_duplicates_give_the_same_insights(
    events: list[MessageEvent], rng: random.Random, seed: int
) -> None:
    shuffled = events + rng.sample(events, len(events) // 2)
    rng.shuffle(shuffled)
    assert insights_now(counted(shuffled, seed)) == insights_now(counted(events, 0))


@settings(max_examples=300)
@given(events)
def test_histograms_count_the_messages_of_their_counter(events: list[MessageEvent]) -> None:
    """Every message here has a dispatch time once dispatched, so each stage's histogram holds
    exactly the messages its counter counts, and each group adds up the same way."""
    state = counted(events, 0)
    windows = due_windows(state, 10 * WINDOW, WINDOW)
    if not windows:
        return
    item = snapshot(state, windows[-1], WINDOW, T0)
    stats, insights = item.statistics, item.insights
    if insights is None:  # no message sent, failed, skipped or labelled yet
        assert stats.total_sent_count == stats.total_failed_count == stats.skipped_count == 0
        return
    assert sum(insights.time_to_sent) == stats.total_sent_count
    assert sum(insights.time_to_delivered) == stats.total_delivered_count
    assert sum(insights.time_to_read) == stats.total_read_count
    assert sum(f.count for f in insights.failures) == stats.total_failed_count
    assert sum(k.count for k in insights.skip_reasons) == stats.skipped_count
    for group in insights.groups:
        assert sum(group.time_to_read) == group.counters.read
        assert group.counters.dispatched <= stats.dispatched_count


def test_a_message_counts_in_the_bucket_of_each_stage_and_its_groups() -> None:
    events: list[MessageEvent] = [
        Dispatch(
            message_id="m1",
            campaign_id="c1",
            workspace_id="w1",
            dispatched_at=T0,
            variant="B",
            template="promo:nov",
            tags=["vip"],
        ),
        AckEvent(message_id="m1", status="sent", received_at=at(1.5)),
        AckEvent(message_id="m1", status="delivered", received_at=at(3)),
        AckEvent(message_id="m1", status="read", received_at=at(2 * 86_400)),
        # a late report of an earlier sent moves the message to an earlier bucket
        AckEvent(message_id="m1", status="sent", received_at=at(9), occurred_at=at(0.5)),
    ]
    insights = insights_now(counted(events, 0))
    assert insights is not None
    assert insights.time_to_sent[0] == 1 and sum(insights.time_to_sent) == 1
    assert insights.time_to_delivered[bucket_of(3)] == 1
    assert insights.time_to_read[BUCKETS - 1] == 1  # a day or more
    groups = {(g.kind, g.value): g for g in insights.groups}
    assert set(groups) == {("variant", "B"), ("template", "promo:nov"), ("tag", "vip")}
    for group in groups.values():
        assert (group.counters.dispatched, group.counters.read) == (1, 1)
        assert group.time_to_read[BUCKETS - 1] == 1


def test_failures_by_code_with_the_providers_or_the_known_title() -> None:
    def failed(message_id: str, code: str, title: str = "") -> list[MessageEvent]:
        return [
            Dispatch(message_id=message_id, campaign_id="c1", workspace_id="w1", dispatched_at=T0),
            AckEvent(
                message_id=message_id,
                status="failed",
                received_at=at(1),
                error_code=code,
                error_title=title,
            ),
        ]

    events = [
        *failed("m1", "131049", "Per-user marketing limit"),
        *failed("m2", "131049"),
        *failed("m3", "63016"),
        *failed("m4", "", "Evaluation failed: session closed"),
        # delivery beats a failure report: not a failure any more
        *failed("m5", "131026"),
        AckEvent(message_id="m5", status="delivered", received_at=at(2)),
    ]
    insights = insights_now(counted(events, 0))
    assert insights is not None
    assert [(f.code, f.title, f.count) for f in insights.failures] == [
        ("131049", "Per-user marketing limit", 2),
        ("", "Evaluation failed: session closed", 1),
        ("63016", "Outside the allowed window: freeform message not sent (use a template)", 1),
    ]


def test_no_insights_before_a_dispatch() -> None:
    assert insights_of({}, {}) is None
    events: list[MessageEvent] = [AckEvent(message_id="m1", status="read", received_at=T0)]
    assert insights_now(counted(events, 0)) is None


def test_a_negative_duration_counts_as_under_a_second() -> None:
    assert bucket_of(-30) == 0
    assert bucket_of(0.999) == 0
    assert bucket_of(1) == 1
    assert bucket_of(86_400) == BUCKETS - 1


@given(st.lists(st.floats(0, 200_000, allow_nan=False), min_size=1, max_size=200))
def test_a_percentile_bucket_holds_the_true_percentile(durations: list[float]) -> None:
    buckets = [0] * BUCKETS
    for duration in durations:
        buckets[bucket_of(duration)] += 1
    ordered = sorted(durations)
    for name, q in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99)):
        true = ordered[max(1, math.ceil(q * len(ordered))) - 1]
        bounds = percentiles(buckets)[name]
        assert bounds is not None
        assert bounds["lower"] <= true
        assert bounds["upper"] is None or true < bounds["upper"]


def test_percentiles_of_an_empty_histogram_are_null() -> None:
    assert percentile_bucket([0] * BUCKETS, 0.5) is None
    assert percentiles([0] * BUCKETS) == {"p50": None, "p90": None, "p99": None}
    assert len(BOUNDS_SECONDS) + 1 == BUCKETS


def test_a_window_snapshot_carries_the_insights_as_of_its_end() -> None:
    """A snapshot written late (after a restart) says what a timely one would have said."""
    first = CampaignPartial(
        campaign_id="c1",
        workspace_id="w1",
        source_partition=0,
        counters=Counters(dispatched=1, sent=1),
        facets={"s1": 1},
    )
    later = CampaignPartial(
        campaign_id="c1",
        workspace_id="w1",
        source_partition=0,
        counters=Counters(dispatched=2, sent=2),
        facets={"s1": 1, "s2": 1},
    )
    state = apply_partial(CampaignState(campaign_id="c1"), first, 0, WINDOW)
    state = apply_partial(state, later, WINDOW, WINDOW)
    early, late = due_windows(state, 3 * WINDOW, WINDOW)
    early_insights = snapshot(state, early, WINDOW, T0).insights
    late_insights = snapshot(state, late, WINDOW, T0).insights
    assert early_insights is not None and late_insights is not None
    assert sum(early_insights.time_to_sent) == 1
    assert sum(late_insights.time_to_sent) == 2


def test_skips_count_by_reason_until_a_dispatch_cancels_them() -> None:
    def skip(recipient: str, code: str, reason: str) -> Skip:
        return Skip(
            message_id=f"skip:c1:{recipient}",
            campaign_id="c1",
            workspace_id="w1",
            recipient=recipient,
            received_at=T0,
            reason_code=code,
            reason=reason,
        )

    events: list[MessageEvent] = [
        skip("+1", "opted_out", "asked to stop"),
        skip("+2", "opted_out", "asked to stop"),
        skip("+3", "invalid", "not on WhatsApp"),
        skip("+3", "invalid", "not on WhatsApp"),  # reported twice, counted once
        Attempt(message_id="skip:c1:+2", received_at=at(1)),  # dispatched after all
    ]
    insights = insights_now(counted(events, 0))
    assert insights is not None
    assert [(k.code, k.reason, k.count) for k in insights.skip_reasons] == [
        ("invalid", "not on WhatsApp", 1),
        ("opted_out", "asked to stop", 1),
    ]

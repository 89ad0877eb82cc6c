"""Comparing what the pipeline shows with the oracle (tickstream/simulator/comparison.py): exact
where every time is known, bounded by the soonest and latest readings where ingest stamped the
arrival, by key and never by position."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import msgspec
from hypothesis import given
from hypothesis import strategies as st

from contract.events import (
    AckEvent,
    Counters,
    Dispatch,
    Failure,
    GroupStatistics,
    Insights,
    SkipReason,
    Snapshot,
    Statistics,
    WindowCounts,
)
from contract.insights import BUCKETS
from tickstream.bench.insights import differences
from tickstream.simulator.comparison import (
    NO_INSIGHTS,
    Difference,
    ExpectedInsights,
    counter_differences,
    insight_differences,
)
from tickstream.simulator.oracle import Expected, insights_oracle

T0 = datetime(2026, 11, 1, 12, tzinfo=UTC)


def bucket(index: int, count: int = 1) -> list[int]:
    counts = [0] * BUCKETS
    counts[index] = count
    return counts


EXPECTED = Insights(
    time_to_sent=bucket(1, 2),
    time_to_delivered=bucket(3, 2),
    time_to_read=bucket(5),
    failures=[
        Failure(code="131026", title="Message undeliverable", count=2),
        Failure(code="", title="Session closed.", count=1),
    ],
    skip_reasons=[
        SkipReason(code="opted_out", reason="Opted out", count=3),
        SkipReason(code="", reason="no WhatsApp", count=1),
    ],
    groups=[
        GroupStatistics(
            kind="variant",
            value="A",
            counters=Counters(dispatched=3, sent=2, delivered=2, read=1, failed=1),
            time_to_read=bucket(5),
        ),
        GroupStatistics(
            kind="tag", value="vip", counters=Counters(dispatched=1), time_to_read=[0] * BUCKETS
        ),
    ],
)


def test_the_same_insights_in_another_order_do_not_differ() -> None:
    shuffled = msgspec.structs.replace(
        EXPECTED,
        failures=EXPECTED.failures[::-1],
        skip_reasons=EXPECTED.skip_reasons[::-1],
        groups=EXPECTED.groups[::-1],
    )
    assert insight_differences(ExpectedInsights.exact(EXPECTED), shuffled) == []


def test_a_message_in_another_bucket_is_named_by_the_bounds_it_crosses() -> None:
    moved = msgspec.structs.replace(EXPECTED, time_to_read=bucket(7))  # 120–300 s, not 30–60 s
    assert insight_differences(ExpectedInsights.exact(EXPECTED), moved) == [
        Difference("time_to_read < 60 s", "1", "0"),
        Difference("time_to_read < 120 s", "1", "0"),
    ]


def test_failures_and_groups_differ_by_key() -> None:
    shown = msgspec.structs.replace(
        EXPECTED,
        failures=[
            Failure(code="131026", title="Undeliverable", count=2),
            Failure(code="63016", title="Outside the window", count=1),
        ],
        groups=[EXPECTED.groups[0]],
    )
    assert insight_differences(ExpectedInsights.exact(EXPECTED), shown) == [
        Difference("failures \"\" 'Session closed.'", "1 × 'Session closed.'", "0"),
        Difference("failures 131026", "2 × 'Message undeliverable'", "2 × 'Undeliverable'"),
        Difference("failures 63016", "0", "1 × 'Outside the window'"),
        Difference("tag 'vip' dispatched", "1", "0"),
    ]


def test_skip_reasons_differ_by_code_and_reason() -> None:
    shown = msgspec.structs.replace(
        EXPECTED,
        skip_reasons=[
            SkipReason(code="opted_out", reason="Opted out", count=2),
            SkipReason(code="", reason="No WhatsApp", count=1),
        ],
    )
    assert insight_differences(ExpectedInsights.exact(EXPECTED), shown) == [
        Difference("skips '' 'No WhatsApp'", "0", "1"),
        Difference("skips '' 'no WhatsApp'", "1", "0"),
        Difference("skips 'opted_out' 'Opted out'", "3", "2"),
    ]


def test_no_insights_shown_is_every_expected_item_missing() -> None:
    found = insight_differences(ExpectedInsights.exact(EXPECTED), None)
    assert Difference("time_to_sent in all", "2", "0") in found
    assert Difference("skips 'opted_out' 'Opted out'", "3", "0") in found
    assert Difference("variant 'A' read", "1", "0") in found
    assert insight_differences(ExpectedInsights.exact(NO_INSIGHTS), None) == []


def test_counters() -> None:
    expected = Expected(dispatched=10, sent=9, delivered=8, read=4, played=0, failed=1)
    assert counter_differences(expected, expected) == []
    assert counter_differences(expected, Expected(10, 9, 8, 5, 0, 1)) == [
        Difference("read", "4", "5")
    ]
    assert counter_differences(expected, None) == [Difference("statistics", "a snapshot", "none")]


def unstamped(second: float) -> AckEvent:
    """A read whose provider gives no time: ingest stamps when it arrives."""
    return AckEvent(
        message_id="m", status="read", received_at=T0 + timedelta(seconds=second), provider="twilio"
    )


DISPATCH = Dispatch(message_id="m", campaign_id="c", workspace_id="w", dispatched_at=T0)


@given(sent=st.floats(0, 100_000), round_trip=st.floats(0, 100), share=st.floats(0, 1))
def test_a_time_known_to_within_a_round_trip_is_bounded(
    sent: float, round_trip: float, share: float
) -> None:
    """An ack sent at ``sent`` and answered ``round_trip`` later was stamped in between: any such
    stamp is within the bounds, and one a bucket past the answer is not (unless the answer and
    the stamp share the last bucket, a day or more)."""
    soonest = insights_oracle([DISPATCH, unstamped(sent)])["c"]
    latest = insights_oracle([DISPATCH, unstamped(sent + round_trip)])["c"]
    expected = ExpectedInsights(soonest, latest)
    stamped = insights_oracle([DISPATCH, unstamped(sent + share * round_trip)])["c"]
    assert insight_differences(expected, stamped) == []
    later = insights_oracle([DISPATCH, unstamped(2 * (sent + round_trip) + 10)])["c"]
    if later.time_to_read != latest.time_to_read:
        assert insight_differences(expected, later) != []


def test_the_insights_benchmark_reads_a_snapshot_against_the_oracle() -> None:
    expected = Expected(dispatched=3, sent=2, delivered=2, read=1, played=0, failed=1)
    statistics = Statistics(
        total_message_count=3,
        total_sent_count=2,
        total_delivered_count=2,
        total_read_count=1,
        total_played_count=0,
        total_failed_count=1,
        pending_count=0,
        delivery_rate=100.0,
        read_rate=50.0,
        success_rate=66.67,
        updated_at=T0,
        dispatched_count=3,
    )
    snapshot = Snapshot(
        campaign_id="c",
        campaign_uuid="",
        workspace_id="w",
        seq=1,
        window=WindowCounts(start=T0, end=T0),
        statistics=statistics,
        timestamp=T0,
        insights=EXPECTED,
    )
    assert differences(expected, ExpectedInsights.exact(EXPECTED), snapshot) == []
    read_twice = msgspec.structs.replace(statistics, total_read_count=2)
    short = msgspec.structs.replace(snapshot, statistics=read_twice, insights=None)
    found = differences(expected, ExpectedInsights.exact(EXPECTED), short)
    assert found[0] == Difference("read", "1", "2")
    assert Difference("time_to_read in all", "1", "0") in found

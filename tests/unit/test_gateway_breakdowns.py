"""The JSON of the insight endpoints, built from snapshots: percentile payloads, the failures'
order and titles, variants with explicit zeros and their comparisons, tags, templates, and a
campaign without insights answered as empty."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from contract.events import (
    Counters,
    Failure,
    GroupStatistics,
    Insights,
    Snapshot,
    Statistics,
    WindowCounts,
)
from contract.insights import BOUNDS_SECONDS, BUCKETS, bucket_bounds
from gateway.breakdowns import (
    distribution,
    distributions_view,
    failures_view,
    tags_view,
    templates_view,
    variants_view,
)
from gateway.db import TemplateSums
from gateway.significance import compare_read_rates

T0 = datetime(2026, 11, 1, 12, tzinfo=UTC)
ZERO = [0] * BUCKETS


def histogram(**at: int) -> list[int]:
    """Buckets with counts at the given indexes (``b3=5``: five in bucket 3)."""
    counts = list(ZERO)
    for name, n in at.items():
        counts[int(name.removeprefix("b"))] = n
    return counts


def snapshot(insights: Insights | None, failed: int = 0) -> Snapshot:
    stats = Statistics(
        total_message_count=100,
        total_sent_count=90,
        total_delivered_count=80,
        total_read_count=30,
        total_played_count=0,
        total_failed_count=failed,
        pending_count=0,
        delivery_rate=88.89,
        read_rate=37.5,
        success_rate=90.0,
        updated_at=T0,
    )
    return Snapshot(
        campaign_id="c1",
        campaign_uuid="u1",
        workspace_id="W",
        seq=4,
        window=WindowCounts(start=T0, end=T0),
        statistics=stats,
        timestamp=T0,
        insights=insights,
    )


def group(kind: str, value: str, counters: Counters, **at: int) -> GroupStatistics:
    return GroupStatistics(kind=kind, value=value, counters=counters, time_to_read=histogram(**at))


# --------------------------------------------------------------------------- distributions


def test_a_distribution_gives_its_percentiles_as_bucket_bounds() -> None:
    # 100 durations: 50 in 1-2 s, 40 in 5-10 s, 9 in 60-120 s, 1 in a day or more
    got = distribution(histogram(b1=50, b3=40, b6=9, b15=1))
    assert got["count"] == 100
    assert got["p50"] == {"lower": 1, "upper": 2}  # the 50th smallest
    assert got["p90"] == {"lower": 5, "upper": 10}  # the 90th
    assert got["p99"] == {"lower": 60, "upper": 120}  # the 99th
    assert distribution(histogram(b15=1))["p50"] == {"lower": 86400, "upper": None}


def test_an_absent_distribution_counts_nothing() -> None:
    got = distribution([])
    assert got == {"count": 0, "buckets": ZERO, "p50": None, "p90": None, "p99": None}


@given(st.lists(st.integers(0, 10**6), min_size=BUCKETS, max_size=BUCKETS))
def test_distribution_percentiles_are_ordered_buckets(buckets: list[int]) -> None:
    got = distribution(buckets)
    assert got["buckets"] == buckets and got["count"] == sum(buckets)
    if not sum(buckets):
        assert (got["p50"], got["p90"], got["p99"]) == (None, None, None)
        return
    bounds = [bucket_bounds(i) for i in range(BUCKETS)]
    ranks = [bounds.index(p) for p in (got["p50"], got["p90"], got["p99"]) if p is not None]
    assert ranks == sorted(ranks) and len(ranks) == 3
    assert all(buckets[i] > 0 for i in ranks)  # a percentile never falls in an empty bucket


def test_distributions_of_a_snapshot_and_of_none() -> None:
    insights = Insights(
        time_to_sent=histogram(b0=7),
        time_to_delivered=histogram(b2=5),
        time_to_read=histogram(b5=2),
    )
    got = distributions_view("c1", snapshot(insights))
    assert got["campaign_id"] == "c1" and got["updated_at"] == "2026-11-01T12:00:00Z"
    assert got["bounds_seconds"] == list(BOUNDS_SECONDS)
    assert got["time_to_sent"]["count"] == 7 and got["time_to_sent"]["buckets"] == histogram(b0=7)
    assert got["time_to_delivered"]["p99"] == {"lower": 2, "upper": 5}
    assert got["time_to_read"]["p50"] == {"lower": 30, "upper": 60}
    for empty in (distributions_view("c1", None), distributions_view("c1", snapshot(None))):
        for stage in ("time_to_sent", "time_to_delivered", "time_to_read"):
            assert empty[stage] == distribution([])
    assert distributions_view("c1", None)["updated_at"] is None


# --------------------------------------------------------------------------- failures


def test_failures_most_frequent_first_with_titles() -> None:
    insights = Insights(
        time_to_sent=ZERO,
        time_to_delivered=ZERO,
        time_to_read=ZERO,
        failures=[
            Failure(code="131026", title="", count=3),  # no title: the known one
            Failure(code="470", title="Provider's own", count=9),
            Failure(code="", title="Evaluation failed: phone not connected", count=3),
            Failure(code="131050", title="Stopped", count=3),  # the provider's title wins
        ],
    )
    got = failures_view("c1", snapshot(insights, failed=18))
    assert got["total_failed"] == 18
    assert got["failures"] == [
        {"code": "470", "title": "Provider's own", "count": 9},
        {"code": "", "title": "Evaluation failed: phone not connected", "count": 3},
        {"code": "131026", "title": "Message undeliverable", "count": 3},
        {"code": "131050", "title": "Stopped", "count": 3},
    ]
    assert failures_view("c1", None) == {
        "campaign_id": "c1",
        "updated_at": None,
        "total_failed": 0,
        "failures": [],
    }


# --------------------------------------------------------------------------- groups


def test_variants_with_every_counter_rates_and_comparisons() -> None:
    a = Counters(dispatched=1100, sent=1000, delivered=900, read=300, failed=4)
    b = Counters(dispatched=1100, sent=1000, delivered=800, read=320)
    insights = Insights(
        time_to_sent=ZERO,
        time_to_delivered=ZERO,
        time_to_read=ZERO,
        groups=[
            group("variant", "B", b, b6=320),
            group("tag", "spring", a),
            group("variant", "A", a, b4=300),
        ],
    )
    got = variants_view("c1", snapshot(insights))
    assert [v["variant"] for v in got["variants"]] == ["A", "B"]
    first = got["variants"][0]
    assert first["counters"] == {
        "dispatched": 1100,
        "sent": 1000,
        "delivered": 900,
        "read": 300,
        "played": 0,
        "failed": 4,
        "skipped": 0,
    }
    assert (first["delivery_rate"], first["read_rate"]) == (90.0, 33.33)
    assert first["time_to_read"] == distribution(histogram(b4=300))
    assert got["comparisons"] == compare_read_rates({"A": a, "B": b})
    assert got["comparisons"] is not None and got["comparisons"][0]["b"] == "B"


def test_no_variants_no_comparisons() -> None:
    only_tags = Insights(
        time_to_sent=ZERO,
        time_to_delivered=ZERO,
        time_to_read=ZERO,
        groups=[group("tag", "spring", Counters(dispatched=1))],
    )
    for snap in (snapshot(only_tags), snapshot(None), None):
        got = variants_view("c1", snap)
        assert got["variants"] == [] and got["comparisons"] is None


def test_tags_the_most_dispatched_first() -> None:
    insights = Insights(
        time_to_sent=ZERO,
        time_to_delivered=ZERO,
        time_to_read=ZERO,
        groups=[
            group("tag", "b", Counters(dispatched=5, sent=4)),
            group("tag", "c", Counters(dispatched=9)),
            group("template", "welcome", Counters(dispatched=99)),
            group("tag", "a", Counters(dispatched=5, sent=5, delivered=5, read=1), b2=1),
        ],
    )
    got = tags_view("c1", snapshot(insights))
    assert [t["tag"] for t in got["tags"]] == ["c", "a", "b"]
    assert got["tags"][1]["read_rate"] == 20.0 and got["tags"][1]["delivery_rate"] == 100.0
    assert got["tags"][1]["time_to_read"]["count"] == 1
    assert got["tags"][2]["counters"]["delivered"] == 0
    assert tags_view("c1", None) == {"campaign_id": "c1", "updated_at": None, "tags": []}


def test_templates_keep_the_databases_order() -> None:
    sums = [
        TemplateSums(
            template="welcome",
            campaigns=2,
            counters=Counters(dispatched=10, sent=10, delivered=8, read=2),
            time_to_read=histogram(b3=2),
        ),
        TemplateSums(template="reminder", campaigns=1, counters=Counters(), time_to_read=ZERO),
    ]
    got = templates_view(sums)["templates"]
    assert [(t["template"], t["campaigns"]) for t in got] == [("welcome", 2), ("reminder", 1)]
    assert (got[0]["delivery_rate"], got[0]["read_rate"]) == (80.0, 25.0)
    assert got[0]["time_to_read"]["p50"] == {"lower": 5, "upper": 10}
    assert got[1]["time_to_read"] == distribution([])
    assert (
        got[1]["counters"] == dict.fromkeys(got[1]["counters"], 0) and len(got[1]["counters"]) == 7
    )

"""The JSON of the insight endpoints (docs/insights.md, "REST API"), built from a campaign's
latest snapshot, or from the template sums of a workspace. Pure: the handlers in
:mod:`gateway.insights_rest` fetch, these shape.

A campaign without insights yet (no snapshot, or a snapshot from before the worker computed
them) is answered like one with nothing counted: zero buckets, no percentiles, empty lists, so
a client draws empty panels instead of handling an error.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, TypedDict

from contract.events import Counters, GroupStatistics, Insights, Snapshot
from contract.insights import BOUNDS_SECONDS, BUCKETS, Bounds, failure_title, percentiles, rate
from gateway.db import TemplateSums, iso
from gateway.significance import compare_read_rates

COUNTER_NAMES: tuple[str, ...] = Counters.__struct_fields__
STAGES = ("time_to_sent", "time_to_delivered", "time_to_read")


class Distribution(TypedDict):
    count: int
    buckets: list[int]
    p50: Bounds | None
    p90: Bounds | None
    p99: Bounds | None


def distribution(buckets: Sequence[int]) -> Distribution:
    """A histogram over ``BOUNDS_SECONDS`` with its size and its percentiles' buckets; an
    absent one (empty) counts nothing in every bucket."""
    counts = list(buckets) or [0] * BUCKETS
    p = percentiles(counts)
    return {
        "count": sum(counts),
        "buckets": counts,
        "p50": p["p50"],
        "p90": p["p90"],
        "p99": p["p99"],
    }


def counters_json(counters: Counters) -> dict[str, int]:
    """All seven counters, zeros written out (the snapshot's encoding leaves them out)."""
    return {name: getattr(counters, name) for name in COUNTER_NAMES}


def group_figures(counters: Counters, time_to_read: Sequence[int]) -> dict[str, Any]:
    """What every breakdown (variant, tag, template) shows of its messages."""
    return {
        "counters": counters_json(counters),
        "delivery_rate": rate(counters.delivered, counters.sent),
        "read_rate": rate(counters.read, counters.delivered),
        "time_to_read": distribution(time_to_read),
    }


def _head(campaign_id: str, snapshot: Snapshot | None) -> dict[str, Any]:
    return {
        "campaign_id": campaign_id,
        "updated_at": iso(snapshot.statistics.updated_at) if snapshot else None,
    }


def _insights(snapshot: Snapshot | None) -> Insights | None:
    return snapshot.insights if snapshot else None


def _groups(snapshot: Snapshot | None, kind: str) -> list[GroupStatistics]:
    insights = _insights(snapshot)
    return [g for g in insights.groups if g.kind == kind] if insights else []


def distributions_view(campaign_id: str, snapshot: Snapshot | None) -> dict[str, Any]:
    insights = _insights(snapshot)
    stages = {stage: distribution(getattr(insights, stage) if insights else []) for stage in STAGES}
    return _head(campaign_id, snapshot) | {"bounds_seconds": list(BOUNDS_SECONDS)} | stages


def failures_view(campaign_id: str, snapshot: Snapshot | None) -> dict[str, Any]:
    """Failures by error code, the most frequent first (ties by code)."""
    insights = _insights(snapshot)
    failures = sorted(insights.failures if insights else [], key=lambda f: (-f.count, f.code))
    return _head(campaign_id, snapshot) | {
        "total_failed": snapshot.statistics.total_failed_count if snapshot else 0,
        "failures": [
            {"code": f.code, "title": failure_title(f.code, f.title), "count": f.count}
            for f in failures
        ],
    }


def variants_view(campaign_id: str, snapshot: Snapshot | None) -> dict[str, Any]:
    """Each variant by name, and the read rates compared (:mod:`gateway.significance`)."""
    groups = sorted(_groups(snapshot, "variant"), key=lambda g: g.value)
    return _head(campaign_id, snapshot) | {
        "variants": [
            {"variant": g.value} | group_figures(g.counters, g.time_to_read) for g in groups
        ],
        "comparisons": compare_read_rates({g.value: g.counters for g in groups}),
    }


def tags_view(campaign_id: str, snapshot: Snapshot | None) -> dict[str, Any]:
    """Each tag, the most dispatched first (ties by name)."""
    groups = sorted(_groups(snapshot, "tag"), key=lambda g: (-g.counters.dispatched, g.value))
    return _head(campaign_id, snapshot) | {
        "tags": [{"tag": g.value} | group_figures(g.counters, g.time_to_read) for g in groups]
    }


def templates_view(sums: Iterable[TemplateSums]) -> dict[str, Any]:
    """Each template in the order given: :func:`gateway.db.template_sums` sorts (and cuts) in
    PostgreSQL, the most dispatched first like the tags."""
    return {
        "templates": [
            {"template": t.template, "campaigns": t.campaigns}
            | group_figures(t.counters, t.time_to_read)
            for t in sums
        ]
    }

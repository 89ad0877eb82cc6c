"""The insight endpoints of a real gateway against real PostgreSQL and Kafka: each endpoint's JSON
for a seeded campaign, the snapshot and its insights alike from memory and from the database,
campaigns without insights answered empty, and no workspace seeing another's campaigns — not
one by one, and not summed into its templates."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from contract.events import Counters, Failure, GroupStatistics, Insights
from contract.insights import BOUNDS_SECONDS, BUCKETS
from contract.settings import DatabaseSettings
from tests.integration.gateway_support import (
    gateway_settings,
    insert_campaign,
    make_snapshot,
    prepare_database,
    produce_snapshots,
    running_gateway,
    store_snapshot,
    token,
)

pytestmark = pytest.mark.integration

INSIGHT_PATHS = ("/distributions", "/failures", "/variants", "/tags")
EMPTY_DISTRIBUTION = {"count": 0, "buckets": [0] * BUCKETS, "p50": None, "p90": None, "p99": None}


def histogram(**at: int) -> list[int]:
    """Buckets with counts at the given indexes (``b3=5``: five in bucket 3)."""
    counts = [0] * BUCKETS
    for name, n in at.items():
        counts[int(name.removeprefix("b"))] = n
    return counts


def group(kind: str, value: str, counters: Counters, **at: int) -> GroupStatistics:
    return GroupStatistics(kind=kind, value=value, counters=counters, time_to_read=histogram(**at))


VARIANT_A = Counters(dispatched=1050, sent=1020, delivered=1000, read=310, failed=30)
VARIANT_B = Counters(dispatched=1050, sent=1030, delivered=1000, read=382, failed=20)
# campaign c1 of workspace W: two variants, two tags, one template
C1 = Insights(
    time_to_sent=histogram(b0=1900, b1=150),
    time_to_delivered=histogram(b1=1000, b2=900, b4=100),
    time_to_read=histogram(b5=500, b7=150, b9=40, b15=2),
    failures=[
        Failure(code="131026", title="", count=20),
        Failure(code="470", title="Re-engagement", count=30),
    ],
    groups=[
        group("variant", "A", VARIANT_A, b5=300, b7=10),
        group("variant", "B", VARIANT_B, b5=200, b7=140, b9=40, b15=2),
        group("tag", "spring", Counters(dispatched=100, sent=100, delivered=90, read=9), b5=9),
        group("tag", "promo", Counters(dispatched=2100, sent=2050, delivered=2000, read=692)),
        group(
            "template",
            "welcome",
            Counters(dispatched=2100, sent=2050, delivered=2000, read=692),
            b5=500,
        ),
    ],
)
# campaign c2 of W: the same template again, and another one
C2 = Insights(
    time_to_sent=histogram(b0=10),
    time_to_delivered=histogram(b1=10),
    time_to_read=histogram(b6=4),
    groups=[
        group("template", "welcome", Counters(dispatched=10, sent=10, delivered=8, read=4), b6=4),
        group("template", "reminder", Counters(dispatched=5, sent=5, delivered=5), b0=0),
    ],
)
# campaign x1 of workspace X uses "welcome" too: never in W's sums
X1 = Insights(
    time_to_sent=histogram(b0=9999),
    time_to_delivered=histogram(),
    time_to_read=histogram(b0=9999),
    failures=[Failure(code="9", title="X's secret", count=9999)],
    groups=[
        group("template", "welcome", Counters(dispatched=9999, delivered=9999, read=9999), b0=9999),
        group("variant", "A", Counters(dispatched=9999)),
    ],
)


def auth(workspace: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(workspace)}"}


async def get(http: aiohttp.ClientSession, url: str, workspace: str = "W") -> Any:
    async with http.get(url, headers=auth(workspace)) as resp:
        assert resp.status == 200, (url, await resp.text())
        return await resp.json()


async def test_insight_endpoints_of_a_seeded_campaign(settings: DatabaseSettings) -> None:
    engine = prepare_database(settings.database_url)
    for campaign, workspace in (("c1", "W"), ("c2", "W"), ("x1", "X")):
        insert_campaign(engine, campaign, workspace, uuid=f"uuid-{campaign}")
    c1 = make_snapshot("c1", "W", 3, uuid="uuid-c1", sent=50, insights=C1)
    store_snapshot(engine, c1)
    store_snapshot(engine, make_snapshot("c2", "W", 1, insights=C2))
    store_snapshot(engine, make_snapshot("x1", "X", 1, uuid="uuid-x1", insights=X1))
    async with (
        running_gateway(gateway_settings(settings)) as (_, base),
        aiohttp.ClientSession() as http,
    ):
        url = f"{base}/api/campaigns/c1"
        snapshot = await get(http, url)
        assert snapshot["seq"] == 3
        assert snapshot["insights"]["time_to_read"] == C1.time_to_read
        assert snapshot["insights"]["failures"][0] == {"code": "131026", "title": "", "count": 20}
        assert snapshot["insights"]["groups"][0]["counters"]["read"] == 310

        distributions = await get(http, f"{url}/distributions")
        assert distributions["campaign_id"] == "c1"
        assert distributions["updated_at"] == snapshot["statistics"]["updated_at"]
        assert distributions["bounds_seconds"] == list(BOUNDS_SECONDS)
        assert distributions["time_to_sent"] == {
            "count": 2050,
            "buckets": C1.time_to_sent,
            "p50": {"lower": 0, "upper": 1},
            "p90": {"lower": 0, "upper": 1},
            "p99": {"lower": 1, "upper": 2},  # the 2030th of 2050
        }
        assert distributions["time_to_delivered"]["count"] == 2000
        assert distributions["time_to_delivered"]["p50"] == {"lower": 1, "upper": 2}
        assert distributions["time_to_delivered"]["p90"] == {"lower": 2, "upper": 5}
        assert distributions["time_to_delivered"]["p99"] == {"lower": 10, "upper": 30}
        # 692 reads: the 346th, 623rd and 686th fall in 30-60 s, 120-300 s and 600-1800 s
        read = distributions["time_to_read"]
        assert read["count"] == 692
        assert read["p50"] == {"lower": 30, "upper": 60}
        assert read["p90"] == {"lower": 120, "upper": 300}
        assert read["p99"] == {"lower": 600, "upper": 1800}

        failures = await get(http, f"{url}/failures")
        assert failures == {
            "campaign_id": "c1",
            "updated_at": snapshot["statistics"]["updated_at"],
            "total_failed": 0,  # the seeded statistics count none; the breakdown is the worker's
            "failures": [
                {"code": "470", "title": "Re-engagement", "count": 30},
                {"code": "131026", "title": "Message undeliverable", "count": 20},
            ],
        }

        variants = await get(http, f"{base}/api/campaigns/uuid-c1/variants")
        assert variants["campaign_id"] == "c1"
        assert [v["variant"] for v in variants["variants"]] == ["A", "B"]
        a = variants["variants"][0]
        assert a["counters"] == {
            "dispatched": 1050,
            "sent": 1020,
            "delivered": 1000,
            "read": 310,
            "played": 0,
            "failed": 30,
            "skipped": 0,
        }
        assert (a["delivery_rate"], a["read_rate"]) == (98.04, 31.0)
        assert a["time_to_read"]["count"] == 310 and a["time_to_read"]["p99"]["lower"] == 120
        (comparison,) = variants["comparisons"]
        # equal deliveries: A (the smaller name) is the reference; 31.0 % against 38.2 %
        # of 1000 each is z = 3.384, p = 0.00071 (by hand: tests/unit/test_gateway_significance)
        assert (comparison["a"], comparison["b"]) == ("A", "B")
        assert (comparison["read_rate_a"], comparison["read_rate_b"]) == (31.0, 38.2)
        assert comparison["difference"] == 7.2 and comparison["significant"] is True
        assert comparison["z"] == pytest.approx(3.38447, abs=1e-5)
        assert comparison["p_value"] == pytest.approx(0.000713, abs=1e-6)
        assert comparison["summary"] == (
            "B's read rate (38.2 %) is 7.2 points above A's (31.0 %); a gap this large would "
            "arise by chance in fewer than 1 in 1,000 campaigns of this size (p = 0.00071)."
        )

        tags = await get(http, f"{url}/tags")
        assert [(t["tag"], t["counters"]["dispatched"]) for t in tags["tags"]] == [
            ("promo", 2100),
            ("spring", 100),
        ]
        assert (tags["tags"][1]["read_rate"], tags["tags"][1]["delivery_rate"]) == (10.0, 90.0)
        assert tags["tags"][1]["time_to_read"]["p50"] == {"lower": 30, "upper": 60}
        assert tags["tags"][0]["time_to_read"] == EMPTY_DISTRIBUTION

        # W's templates: c1 and c2 summed, X's campaign left out though it uses "welcome" too
        templates = (await get(http, f"{base}/api/templates"))["templates"]
        assert [(t["template"], t["campaigns"]) for t in templates] == [
            ("welcome", 2),
            ("reminder", 1),
        ]
        welcome = templates[0]
        assert welcome["counters"] == {
            "dispatched": 2110,
            "sent": 2060,
            "delivered": 2008,
            "read": 696,
            "played": 0,
            "failed": 0,
            "skipped": 0,
        }
        assert (welcome["read_rate"], welcome["delivery_rate"]) == (34.66, 97.48)
        assert welcome["time_to_read"]["buckets"] == histogram(b5=500, b6=4)
        assert welcome["time_to_read"]["p99"] == {"lower": 30, "upper": 60}
        assert templates[1]["time_to_read"] == EMPTY_DISTRIBUTION
        x_templates = (await get(http, f"{base}/api/templates", "X"))["templates"]
        assert [(t["template"], t["counters"]["dispatched"]) for t in x_templates] == [
            ("welcome", 9999)
        ]


async def test_insights_of_another_workspace_are_not_found(settings: DatabaseSettings) -> None:
    engine = prepare_database(settings.database_url)
    insert_campaign(engine, "x1", "X", uuid="uuid-x1")
    store_snapshot(engine, make_snapshot("x1", "X", 1, uuid="uuid-x1", insights=X1))
    async with (
        running_gateway(gateway_settings(settings)) as (_, base),
        aiohttp.ClientSession() as http,
    ):
        for ref in ("x1", "uuid-x1", "nope"):
            for path in ("", *INSIGHT_PATHS):
                url = f"{base}/api/campaigns/{ref}{path}"
                async with http.get(url, headers=auth("W")) as resp:
                    assert resp.status == 404, url
                    body = await resp.text()
                assert "9999" not in body and "secret" not in body
                if ref != "nope":
                    await get(http, url, "X")  # while X's own token reads it
        # no template of X in W's list, though X has one
        assert await get(http, f"{base}/api/templates") == {"templates": []}
        for path in ("/api/templates", "/api/campaigns/x1/variants"):
            async with http.get(f"{base}{path}") as resp:
                assert resp.status == 401, path


async def test_campaigns_without_insights_are_answered_empty(settings: DatabaseSettings) -> None:
    engine = prepare_database(settings.database_url)
    insert_campaign(engine, "fresh", "W")  # registered, no snapshot yet
    store_snapshot(engine, make_snapshot("old", "W", 2, sent=8))  # a snapshot without insights
    async with (
        running_gateway(gateway_settings(settings)) as (_, base),
        aiohttp.ClientSession() as http,
    ):
        assert (await get(http, f"{base}/api/campaigns/old"))["insights"] is None
        for campaign, updated in (("fresh", False), ("old", True)):
            url = f"{base}/api/campaigns/{campaign}"
            distributions = await get(http, f"{url}/distributions")
            assert (distributions["updated_at"] is not None) == updated
            for stage in ("time_to_sent", "time_to_delivered", "time_to_read"):
                assert distributions[stage] == EMPTY_DISTRIBUTION
            failures = await get(http, f"{url}/failures")
            assert (failures["total_failed"], failures["failures"]) == (0, [])
            variants = await get(http, f"{url}/variants")
            assert (variants["variants"], variants["comparisons"]) == ([], None)
            assert (await get(http, f"{url}/tags"))["tags"] == []
        assert await get(http, f"{base}/api/templates") == {"templates": []}


async def test_memory_and_database_answer_alike(settings: DatabaseSettings) -> None:
    """The snapshot endpoint and the insight endpoints read the same snapshot: the newest one
    the gateway holds (here from Kafka, newer than the database's), else the stored one (here
    written after the gateway loaded the database, and never sent on Kafka)."""
    engine = prepare_database(settings.database_url)
    insert_campaign(engine, "c1", "W")
    store_snapshot(engine, make_snapshot("c1", "W", 3, insights=C2))
    produce_snapshots(settings, [make_snapshot("c1", "W", 5, insights=C1)])
    async with (
        running_gateway(gateway_settings(settings)) as (_, base),
        aiohttp.ClientSession() as http,
    ):
        store_snapshot(engine, make_snapshot("late", "W", 1, insights=C2))
        for campaign, seq, insights in (("c1", 5, C1), ("late", 1, C2)):
            url = f"{base}/api/campaigns/{campaign}"
            snapshot = await get(http, url)
            assert snapshot["seq"] == seq
            assert snapshot["insights"]["time_to_read"] == insights.time_to_read
            distributions = await get(http, f"{url}/distributions")
            assert distributions["updated_at"] == snapshot["statistics"]["updated_at"]
            assert distributions["time_to_read"]["buckets"] == insights.time_to_read
            variants = await get(http, f"{url}/variants")
            assert len(variants["variants"]) == sum(g.kind == "variant" for g in insights.groups)

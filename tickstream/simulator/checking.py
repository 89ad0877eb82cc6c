"""Checking a simulation: what the gateway shows per campaign — the counters and the insights —
against the oracle's, item by item (``tickstream.simulator.comparison``)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Mapping
from typing import Any

import aiohttp
import msgspec

from contract.events import Insights
from tickstream.deployment import Deployment
from tickstream.simulator.comparison import (
    NO_INSIGHTS,
    Difference,
    ExpectedInsights,
    counter_differences,
    insight_differences,
)
from tickstream.simulator.oracle import Expected


def counts_of(statistics: dict[str, Any]) -> Expected:
    """The gateway's ``statistics`` object in the oracle's terms."""
    return Expected(
        dispatched=int(statistics.get("dispatched_count", 0)),
        sent=int(statistics["total_sent_count"]),
        delivered=int(statistics["total_delivered_count"]),
        read=int(statistics["total_read_count"]),
        played=int(statistics["total_played_count"]),
        failed=int(statistics["total_failed_count"]),
        skipped=int(statistics.get("skipped_count", 0)),
    )


def insights_of(campaign: dict[str, Any]) -> Insights | None:
    """The ``insights`` of a ``GET /api/campaigns/{id}`` answer (null until there are any)."""
    found = campaign.get("insights")
    return None if found is None else msgspec.convert(found, Insights)


def differences(
    expected: Expected, insights: ExpectedInsights, shown: dict[str, Any] | None
) -> list[Difference]:
    """What a campaign's answer shows otherwise than expected (``None``: no answer yet)."""
    if shown is None:
        return counter_differences(expected, None)
    return counter_differences(expected, counts_of(shown["statistics"])) + insight_differences(
        insights, insights_of(shown)
    )


async def verify(
    settings: Deployment,
    token: str,
    expected: dict[str, Expected],
    insights: Mapping[str, ExpectedInsights],
    within: float,
) -> dict[str, list[Difference]]:
    """Poll ``GET /api/campaigns/{id}`` until every campaign shows the oracle's counters and
    insights; the differences left per campaign (none when all match)."""
    base = f"http://127.0.0.1:{settings.gateway.gateway_port}"
    headers = {"Authorization": f"Bearer {token}"}
    none = ExpectedInsights.exact(NO_INSIGHTS)  # a campaign whose every skip was cancelled
    shown: dict[str, dict[str, Any] | None] = dict.fromkeys(expected)
    deadline = time.monotonic() + within
    async with aiohttp.ClientSession(base, headers=headers) as session:
        while True:
            for campaign_id in expected:
                try:
                    async with session.get(f"/api/campaigns/{campaign_id}") as resp:
                        if resp.status == 200:
                            shown[campaign_id] = await resp.json()
                except aiohttp.ClientError:
                    pass
            left = {
                c: found
                for c in expected
                if (found := differences(expected[c], insights.get(c, none), shown[c]))
            }
            if not left or time.monotonic() > deadline:
                return left
            await asyncio.sleep(1.0)


def table(rows: Iterable[tuple[str, int, Expected | None]]) -> str:
    names = ("total", "sent", "deliv.", "read", "played", "failed", "skipped", "pending")
    lines = [f"{'campaign':28} " + " ".join(f"{name:>7}" for name in names)]
    for name, total, counts in rows:
        if counts is None:
            lines.append(f"{name:28} {'(no snapshot)':>15}")
            continue
        total = max(total, counts.dispatched + counts.skipped)
        pending = max(0, total - counts.sent - counts.failed - counts.skipped)
        lines.append(
            f"{name:28} {total:7} {counts.sent:7} {counts.delivered:7} {counts.read:7} "
            f"{counts.played:7} {counts.failed:7} {counts.skipped:7} {pending:7}"
        )
    return "\n".join(lines)


def differences_table(left: Mapping[str, list[Difference]]) -> str:
    """A line per differing item: campaign, item, what the oracle expects, what was shown."""
    rows = [("campaign", "item", "expected", "shown")]
    rows += [(c, d.item, d.expected, d.got) for c, found in left.items() for d in found]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    return "\n".join(
        f"{c:{widths[0]}}  {item:{widths[1]}}  {want:>{widths[2]}}  {got}"
        for c, item, want, got in rows
    )

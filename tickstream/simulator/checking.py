"""Checking a simulation: the gateway's totals per campaign against the oracle's."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from typing import Any

import aiohttp

from tickstream.deployment import Deployment
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


async def verify(
    settings: Deployment,
    token: str,
    expected: dict[str, Expected],
    within: float,
) -> dict[str, Expected | None]:
    """Poll ``GET /api/campaigns/{id}`` until every campaign matches; the mismatches left."""
    base = f"http://127.0.0.1:{settings.gateway.gateway_port}"
    headers = {"Authorization": f"Bearer {token}"}
    seen: dict[str, Expected | None] = dict.fromkeys(expected)
    deadline = time.monotonic() + within
    async with aiohttp.ClientSession(base, headers=headers) as session:
        while True:
            for campaign_id in expected:
                try:
                    async with session.get(f"/api/campaigns/{campaign_id}") as resp:
                        if resp.status == 200:
                            seen[campaign_id] = counts_of((await resp.json())["statistics"])
                except aiohttp.ClientError:
                    pass
            left = {c: seen[c] for c in expected if seen[c] != expected[c]}
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

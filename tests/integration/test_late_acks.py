"""A read that arrives days after its campaign completed, through the whole real pipeline.

ingest, worker, sink, gateway and the webhook deliverer run as processes on a real broker and a
real PostgreSQL. The clock is faked on the sender's side, the only place time enters the counts:
the campaign is dispatched and delivered three days in the past (the events' own
``dispatched_at`` / ``occurred_at``), completes, and then a read stamped now comes in. The
counters, the time-to-read distribution and the sender's webhook must all move.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import sqlalchemy as sa
from aiohttp import web

from contract.insights import BUCKETS
from contract.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, webjs_mac
from contract.topics import Topics
from gateway.auth import issue_token
from tests.integration.pipeline import Pipeline, running_pipeline, until
from tickstream.infra.ports import free_port
from webhooks import subscriptions

pytestmark = pytest.mark.integration

INGEST_TOKEN = "late-acks-ingest-token"
TOKEN_SECRET = "late-acks-token-secret-of-32-bytes-or-more"
HOOK_SECRET = "late-acks-webhook-secret"
WITHIN = 120.0
THREE_DAYS = timedelta(days=3)


@dataclass
class Receiver:
    """The sender's app: keeps every webhook it is posted, after checking its signature."""

    events: list[dict[str, Any]] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        mac = webjs_mac(HOOK_SECRET, request.headers[TIMESTAMP_HEADER])
        mac.update(body)
        if not hmac.compare_digest(mac.hexdigest(), request.headers[SIGNATURE_HEADER]):
            return web.Response(status=401)
        self.events.append(json.loads(body))
        return web.Response(status=204)

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [event for event in self.events if event["type"] == kind]


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[Receiver, str]]:
    app_receiver = Receiver()
    app = web.Application()
    app.router.add_post("/hooks", app_receiver.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield app_receiver, f"http://127.0.0.1:{port}/hooks"
    await runner.cleanup()


@pytest.fixture
async def pipeline(
    kafka_bootstrap: str, database_url: str, topics: Topics, tmp_path: Path
) -> AsyncIterator[Pipeline]:
    async with running_pipeline(
        kafka_bootstrap,
        database_url,
        topics,
        tmp_path,
        ("streams", "sink", "ingest", "gateway", "webhooks"),
        WEBHOOKS_BACKOFF_MAX_SECONDS="2",
        INGEST_API_TOKEN=INGEST_TOKEN,
        TOKEN_SECRET=TOKEN_SECRET,
    ) as running:
        yield running


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


async def test_a_read_days_after_completion_updates_counts_distributions_and_webhooks(
    pipeline: Pipeline, database_url: str, receiver: tuple[Receiver, str], unique: str
) -> None:
    app, url = receiver
    campaign, workspace = f"c{unique}", f"w{unique}"
    engine = sa.create_engine(database_url)
    try:
        subscriptions.add(
            engine, workspace, url, ["campaign.completed", "campaign.statistics"], HOOK_SECRET
        )
    finally:
        engine.dispose()
    dispatched = datetime.now(UTC) - THREE_DAYS
    ingest_headers = {"Authorization": f"Bearer {INGEST_TOKEN}"}
    gateway_headers = {"Authorization": f"Bearer {issue_token(TOKEN_SECRET, workspace, 3600)}"}

    async with aiohttp.ClientSession() as session:

        async def post(path: str, body: Any) -> None:
            async with session.post(
                f"{pipeline.ingest_url}{path}", json=body, headers=ingest_headers
            ) as response:
                assert response.status < 300, await response.text()

        async def campaign_json(suffix: str = "") -> dict[str, Any]:
            async with session.get(
                f"{pipeline.gateway_url}/api/campaigns/{campaign}{suffix}", headers=gateway_headers
            ) as response:
                return dict(await response.json()) if response.status == 200 else {}

        await post(
            "/v1/campaigns",
            {"campaign_id": campaign, "workspace_id": workspace, "total_recipients": 2},
        )
        await post(
            "/v1/dispatches",
            [
                {
                    "message_id": f"{campaign}-m{i}",
                    "campaign_id": campaign,
                    "workspace_id": workspace,
                    "recipient": f"+1555000{i}",
                    "dispatched_at": iso(dispatched),
                    "variant": "AB"[i],
                }
                for i in range(2)
            ],
        )
        await post(
            "/v1/events",
            [
                {
                    "message_id": f"{campaign}-m{i}",
                    "status": "delivered",
                    "occurred_at": iso(dispatched + timedelta(seconds=3)),
                }
                for i in range(2)
            ],
        )

        async def completed() -> list[dict[str, Any]]:
            return app.of_type("campaign.completed")

        announced = await until(completed, "the campaign.completed webhook", WITHIN)
        statistics = announced[0]["data"]["statistics"]
        assert (statistics["total_delivered_count"], statistics["total_read_count"]) == (2, 0)
        assert statistics["completed_at"] is not None

        # three days after the dispatch, one of the messages is read
        read_at = datetime.now(UTC)
        await post(
            "/v1/events",
            [
                {
                    "message_id": f"{campaign}-m0",
                    "status": "read",
                    "occurred_at": iso(read_at),
                }
            ],
        )

        async def read_counted() -> dict[str, Any]:
            body = await campaign_json()
            return body if body.get("statistics", {}).get("total_read_count") == 1 else {}

        latest = await read_counted() or await until(read_counted, "the late read", WITHIN)
        assert latest["statistics"]["total_delivered_count"] == 2
        assert latest["statistics"]["completed_at"] == statistics["completed_at"]

        distributions = await campaign_json("/distributions")
        to_read = distributions["time_to_read"]
        assert to_read["count"] == 1
        assert to_read["buckets"] == [0] * (BUCKETS - 1) + [1]  # a day or more
        assert to_read["p50"] == {"lower": 86_400, "upper": None}
        assert distributions["time_to_delivered"]["count"] == 2

        variants = {v["variant"]: v for v in (await campaign_json("/variants"))["variants"]}
        assert variants["A"]["counters"]["read"] == 1
        assert variants["B"]["counters"]["read"] == 0

        async def read_pushed() -> list[dict[str, Any]]:
            return [
                event
                for event in app.of_type("campaign.statistics")
                if event["data"]["statistics"]["total_read_count"] == 1
            ]

        pushed = await until(read_pushed, "a campaign.statistics webhook with the read", WITHIN)
        insights = pushed[-1]["data"]["insights"]
        assert insights["time_to_read"][BUCKETS - 1] == 1
        assert pushed[-1]["campaign_id"] == campaign
        assert pushed[-1]["id"] != announced[0]["id"]
    assert len(app.of_type("campaign.completed")) >= 1  # delivered at least once, by id
    assert {e["id"] for e in app.of_type("campaign.completed")} == {announced[0]["id"]}

"""Two of every service on one broker, one of each killed with SIGKILL mid-run: the counts are
exact in PostgreSQL and on WebSocket clients of both gateways (README, "Scaling out").

Two ingests on two ports share the senders' posts; two workers and two sinks share the
partitions (one consumer group each); two gateways each read every snapshot. Mid-run the "a"
copy of each is killed; the killed ingest and gateway come back (front ends behind a load
balancer are replaced), the killed worker and sink do not: the survivors take their partitions.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import aiohttp
import pytest
import sqlalchemy as sa

from contract.settings import DatabaseSettings
from contract.topics import Topics
from gateway.auth import issue_token
from sink.migrate import upgrade
from tests.integration.deployment_support import deployment_env
from tests.integration.pipeline import SnapshotReader
from tickstream.deployment import Deployment
from tickstream.simulator.checking import counts_of
from tickstream.simulator.oracle import Expected
from tickstream.simulator.plan import Plan, Shape, make_plan
from tickstream.simulator.sending import send_plan
from tickstream.up import Stack, healthy

pytestmark = pytest.mark.integration

WORKSPACE = "ws-scale"
COPIES = ("a", "b")


@pytest.fixture
def stacks(settings: DatabaseSettings, tmp_path: Path) -> Iterator[dict[str, Stack]]:
    """Copy "a" and copy "b" of the four services: same topics, database and secrets; their own
    ports and worker state, as two hosts (or pods) would have."""
    upgrade(settings.database_url)
    base = deployment_env(
        settings.kafka_bootstrap,
        settings.database_url,
        settings.topic_prefix,
        settings.topic_partitions,
        tmp_path,
    )
    stacks = {}
    for copy in COPIES:
        fresh = deployment_env(
            settings.kafka_bootstrap,
            settings.database_url,
            settings.topic_prefix,
            settings.topic_partitions,
            tmp_path / copy,
        )
        ports = (
            "INGEST_PORT",
            "GATEWAY_PORT",
            "SINK_PORT",
            "WORKER_PORT",
            "WEBHOOKS_PORT",
            "PUBLIC_BASE_URL",
        )
        env = {**base, **{name: fresh[name] for name in ports}}
        env.update(STATE_DIR=str(tmp_path / copy / "state"), WORKER_DATA_DIR=str(tmp_path / copy))
        stacks[copy] = Stack.services(env, tmp_path / copy / "logs")
    try:
        for stack in stacks.values():
            stack.start()
        for stack in stacks.values():
            stack.wait_healthy(180)
        yield stacks
    finally:
        for stack in stacks.values():
            stack.stop()


@pytest.mark.timeout(1200)
async def test_two_of_everything_one_of_each_killed_counts_stay_exact(
    stacks: dict[str, Stack], settings: DatabaseSettings
) -> None:
    deployments = {copy: Deployment.from_env(stack.env) for copy, stack in stacks.items()}
    plan = make_plan(
        Shape(campaigns=4, recipients=300, duration=8, delay_scale=0.1, seed=17),
        WORKSPACE,
        "scale",
        datetime.now(UTC),
    )
    expected = plan.expected()
    halves = split(plan)
    clients = {copy: GatewayClient(deployments[copy]) for copy in COPIES}
    async with contextlib.AsyncExitStack() as running:
        for client in clients.values():
            await running.enter_async_context(client)
        sending = [
            asyncio.create_task(send_plan(halves[copy], deployments[copy])) for copy in COPIES
        ]
        # mid-run: a third of the acks accepted by the two ingests together
        assert await wait_for(lambda: accepted(deployments) >= plan.acks // 3)
        for child in stacks["a"].children:
            assert child.proc is not None
            os.killpg(child.proc.pid, signal.SIGKILL)
            child.proc.wait()
        await clients["a"].lost()
        for child in stacks["a"].children:
            if child.name in ("ingest", "gateway"):
                child.proc = None
                stacks["a"].start(child)
        assert await wait_for(lambda: ready(deployments["a"].gateway.gateway_port))
        await clients["a"].connect()
        reports = await asyncio.gather(*sending)
        assert [report.refused for report in reports] == [[], []]
        # the topic first (the worker's answer), then what each gateway's client holds
        topics = Topics.from_settings(settings)
        reader = SnapshotReader(settings.kafka_bootstrap, topics, f"{topics.prefix}scale-check")
        try:
            views = {"campaign-stats": await asyncio.to_thread(reader.wait_for, expected, 300)}
        finally:
            reader.close()
        for copy, client in clients.items():
            await wait_for(partial(client.holds, expected), 60)
            views[f"gateway {copy}'s client"] = client.counts()
    engine = sa.create_engine(settings.database_url)
    try:
        await wait_for(lambda: stored_snapshots(engine) == expected, 180)
        await wait_for(lambda: stored_statuses(engine) == expected, 60)
        views["campaign_stats table"] = stored_snapshots(engine)
        views["message_status rows"] = stored_statuses(engine)
    finally:
        engine.dispose()
    assert views == dict.fromkeys(views, expected)


def split(plan: Plan) -> dict[str, Plan]:
    """The posts dealt alternately to the two ingests, as a round-robin load balancer does."""
    return {
        copy: replace(plan, posts=plan.posts[index :: len(COPIES)])
        for index, copy in enumerate(COPIES)
    }


class GatewayClient:
    """A WebSocket client of one gateway, subscribed to the workspace, keeping each campaign's
    snapshot with the highest ``seq``; it reconnects when told (a client resynchronises on
    subscribe)."""

    def __init__(self, deployment: Deployment) -> None:
        port = deployment.gateway.gateway_port
        token = issue_token(deployment.gateway.token_secret, WORKSPACE, ttl_seconds=3600)
        self.url = f"http://127.0.0.1:{port}/ws?token={token}"
        self.latest: dict[str, dict] = {}
        self.session: aiohttp.ClientSession | None = None
        self.reading: asyncio.Task[None] | None = None

    async def __aenter__(self) -> GatewayClient:
        self.session = aiohttp.ClientSession()
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.reading is not None:
            self.reading.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.reading
        if self.session is not None:
            await self.session.close()

    async def connect(self) -> None:
        assert self.session is not None
        socket = await self.session.ws_connect(self.url)
        channel = f"workspace.{WORKSPACE}"
        await socket.send_str(json.dumps({"action": "subscribe", "channel": channel}))
        self.reading = asyncio.create_task(self.read(socket))

    async def read(self, socket: aiohttp.ClientWebSocketResponse) -> None:
        async for message in socket:
            if message.type != aiohttp.WSMsgType.TEXT:
                continue
            frame = json.loads(message.data)
            if frame.get("type") != "snapshot":
                continue
            snapshot = frame["data"]
            held = self.latest.get(snapshot["campaign_id"])
            if held is None or snapshot["seq"] > held["seq"]:
                self.latest[snapshot["campaign_id"]] = snapshot
        await socket.close()

    async def lost(self) -> None:
        """Returns once the gateway's end of the socket is gone."""
        assert self.reading is not None
        await asyncio.wait_for(self.reading, 60)

    def holds(self, expected: dict[str, Expected]) -> bool:
        return self.counts() == expected

    def counts(self) -> dict[str, Expected]:
        return {c: counts_of(s["statistics"]) for c, s in self.latest.items()}


def stored_snapshots(engine: sa.Engine) -> dict[str, Expected]:
    with engine.connect() as db:
        rows = db.execute(sa.text("SELECT campaign_id, snapshot FROM campaign_stats")).all()
    return {row.campaign_id: counts_of(row.snapshot["statistics"]) for row in rows}


STATUS_COUNTS = sa.text(
    """
    SELECT campaign_id,
      count(*) FILTER (WHERE message_id NOT LIKE 'skip:%') AS dispatched,
      count(*) FILTER (WHERE status IN ('sent', 'delivered', 'read', 'played')) AS sent,
      count(*) FILTER (WHERE status IN ('delivered', 'read', 'played')) AS delivered,
      count(*) FILTER (WHERE status IN ('read', 'played')) AS read,
      count(*) FILTER (WHERE status = 'played') AS played,
      count(*) FILTER (WHERE status = 'failed') AS failed,
      count(*) FILTER (WHERE status = 'skipped') AS skipped
    FROM message_status GROUP BY campaign_id
    """
)


def stored_statuses(engine: sa.Engine) -> dict[str, Expected]:
    """The campaign counters recounted from the per-message rows the sinks wrote."""
    with engine.connect() as db:
        rows = db.execute(STATUS_COUNTS).mappings().all()
    return {
        row["campaign_id"]: Expected(**{k: v for k, v in row.items() if k != "campaign_id"})
        for row in rows
    }


def accepted(deployments: dict[str, Deployment]) -> int:
    """Events both ingests accepted so far, from their /metrics (a dead one counts 0)."""
    total = 0.0
    for deployment in deployments.values():
        url = f"http://127.0.0.1:{deployment.ingest.ingest_port}/metrics"
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                text = response.read().decode()
        except OSError:
            continue
        for line in text.splitlines():
            if line.startswith("tickstream_ingest_events_accepted_total{"):
                total += float(line.rsplit(" ", 1)[1])
    return int(total)


def ready(port: int) -> bool:
    return healthy(port, "/readyz")


async def wait_for(condition: Callable[[], bool], within: float = 120.0) -> bool:
    """Polls ``condition`` off the event loop until it holds or time is up; says which."""
    deadline = time.monotonic() + within
    while not await asyncio.to_thread(condition):
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.5)
    return True

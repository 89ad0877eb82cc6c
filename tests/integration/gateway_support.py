"""Shared helpers of the gateway's integration tests (no tests here): real PostgreSQL rows via
SQLAlchemy, real ``campaign-stats`` records via confluent-kafka, and a real gateway on loopback
(in this process, or as ``python -m gateway`` when a test must kill or measure it)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import msgspec
import sqlalchemy as sa
from aiohttp import web
from confluent_kafka import Producer

from contract.events import Insights, Snapshot, Statistics, WindowCounts, encode
from contract.schema import STATISTICS_COLUMNS, campaign_stats, campaign_stats_windows, campaigns
from contract.settings import DatabaseSettings, ServiceSettings
from contract.topics import Topics
from gateway.app import create_app
from gateway.auth import issue_token
from gateway.keys import READY
from gateway.settings import GatewaySettings
from sink.migrate import upgrade
from tickstream.infra.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
TOKEN_SECRET = "test-token-secret-of-at-least-32-bytes"
APP_SECRET = "test-pusher-secret"


def gateway_settings(settings: DatabaseSettings, **extra: object) -> GatewaySettings:
    values: dict[str, object] = {
        "token_secret": TOKEN_SECRET,
        "pusher_app_secret": APP_SECRET,
        "gateway_port": free_port(),
    }
    values.update(extra)
    return GatewaySettings.carrying(settings, **values)


def token(workspace: str) -> str:
    return issue_token(TOKEN_SECRET, workspace, ttl_seconds=3600)


def make_snapshot(
    campaign_id: str,
    workspace: str,
    seq: int,
    uuid: str = "",
    sent: int = 0,
    name: str = "",
    insights: Insights | None = None,
) -> Snapshot:
    now = datetime.now(UTC)
    stats = Statistics(
        total_message_count=1000,
        total_sent_count=sent,
        total_delivered_count=sent // 2,
        total_read_count=0,
        total_played_count=0,
        total_failed_count=0,
        pending_count=990 - sent,
        delivery_rate=50.0 if sent else 0.0,
        read_rate=0.0,
        success_rate=sent / 10,
        updated_at=now,
        dispatched_count=sent + 5,
        skipped_count=10,
        queued_count=985 - sent,
        awaiting_update_count=5,
        started_at=now - timedelta(minutes=5),
    )
    window = WindowCounts(start=now - timedelta(seconds=1), end=now, sent=1)
    return Snapshot(
        campaign_id=campaign_id,
        campaign_uuid=uuid,
        workspace_id=workspace,
        seq=seq,
        window=window,
        statistics=stats,
        timestamp=now,
        campaign_name=name,
        insights=insights,
    )


def prepare_database(database_url: str) -> sa.Engine:
    """The migrated database, through an engine that keeps no connection open between uses
    (tests drop it without ``dispose()``; pooled connections would be left open)."""
    upgrade(database_url)
    return sa.create_engine(database_url, poolclass=sa.NullPool)


def insert_campaign(engine: sa.Engine, campaign_id: str, workspace: str, uuid: str = "") -> None:
    with engine.begin() as conn:
        conn.execute(
            campaigns.insert().values(
                campaign_id=campaign_id,
                workspace_id=workspace,
                campaign_uuid=uuid,
                name=f"campaign {campaign_id}",
                total_recipients=1000,
            )
        )


def store_snapshot(engine: sa.Engine, snapshot: Snapshot) -> None:
    """The row the sink writes for a snapshot (latest per campaign) and its window row."""
    s = snapshot.statistics
    row = {
        "campaign_id": snapshot.campaign_id,
        "workspace_id": snapshot.workspace_id,
        "campaign_uuid": snapshot.campaign_uuid,
        "seq": snapshot.seq,
        "snapshot": msgspec.to_builtins(snapshot),
        # SQL NULL without insights, as the sink writes it (SQLAlchemy would store JSON null)
        "insights": sa.null()
        if snapshot.insights is None
        else msgspec.to_builtins(snapshot.insights),
        "updated_at": snapshot.timestamp,
    } | {k: getattr(s, k) for k in STATISTICS_COLUMNS}
    with engine.begin() as conn:
        conn.execute(
            campaign_stats.delete().where(campaign_stats.c.campaign_id == row["campaign_id"])
        )
        conn.execute(campaign_stats.insert().values(**row))


def store_window(
    engine: sa.Engine,
    campaign_id: str,
    workspace: str,
    start: datetime,
    seq: int,
    sent: int,
    total_sent: int,
    skipped: int = 0,
) -> None:
    with engine.begin() as conn:
        conn.execute(
            campaign_stats_windows.insert().values(
                campaign_id=campaign_id,
                window_start=start,
                window_end=start + timedelta(seconds=1),
                workspace_id=workspace,
                seq=seq,
                sent=sent,
                delivered=0,
                read=0,
                played=0,
                failed=0,
                skipped=skipped,
                total_sent_count=total_sent,
                total_delivered_count=0,
                total_read_count=0,
                total_played_count=0,
                total_failed_count=0,
            )
        )


def produce_snapshots(settings: ServiceSettings, snapshots: list[Snapshot]) -> None:
    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap, "linger.ms": 5})
    topic = Topics.from_settings(settings).campaign_stats
    for snapshot in snapshots:
        producer.produce(topic, key=snapshot.campaign_id.encode(), value=encode(snapshot))
        producer.poll(0)
    assert producer.flush(30) == 0


async def wait_until(predicate: object, within: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@asynccontextmanager
async def running_gateway(settings: GatewaySettings) -> AsyncIterator[tuple[web.Application, str]]:
    """The gateway app served on 127.0.0.1 in this process, once it reports ready."""
    app = create_app(settings)
    runner = web.AppRunner(app, shutdown_timeout=2.0)
    await runner.setup()
    site = web.TCPSite(runner, settings.bind_host, settings.gateway_port)
    await site.start()
    try:
        await asyncio.wait_for(app[READY].wait(), 60)
        yield app, f"http://{settings.bind_host}:{settings.gateway_port}"
    finally:
        await runner.cleanup()


def gateway_env(settings: GatewaySettings) -> dict[str, str]:
    env = dict(os.environ)
    for name in settings.__struct_fields__:
        value = getattr(settings, name)
        env[name.upper()] = str(value).lower() if isinstance(value, bool) else str(value)
    return env


def start_gateway_process(settings: GatewaySettings) -> subprocess.Popen[bytes]:
    """``python -m gateway`` with these settings (its own process: it can be killed and its
    memory measured)."""
    return subprocess.Popen([sys.executable, "-m", "gateway"], env=gateway_env(settings), cwd=ROOT)


async def wait_ready(base_url: str, proc: subprocess.Popen[bytes], within: float = 60.0) -> None:
    deadline = time.monotonic() + within
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            assert proc.poll() is None, "the gateway process exited"
            try:
                async with http.get(f"{base_url}/readyz") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
    raise AssertionError("the gateway never became ready")

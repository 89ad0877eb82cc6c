"""The webhook deliverer killed with SIGKILL in the middle of its deliveries, and more snapshots
produced while it is dead: once restarted, every event reaches the receiver (at least once:
some twice, none missing, none foreign)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiohttp import ClientSession

from contract.settings import DatabaseSettings
from contract.topics import Topics
from tests.integration.pipeline import start_service, stop
from tests.integration.test_webhooks import (
    cli_database,
    completed_id,
    database,
    produce,
    receiver,
    rows,
    snapshot,
    statistics_ids,
    subscribe,
    until,
    verify,
)
from tickstream.infra.ports import free_port

pytestmark = pytest.mark.integration

__all__ = ["cli_database"]  # the fixture, used by name below
CAMPAIGNS = ("c1", "c2", "c3")


@contextmanager
def deliverer(
    settings: DatabaseSettings, port: int, log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """``python -m webhooks`` configured only through its environment, as in production; killed
    on the way out if the test left it running."""
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "DATABASE_URL": settings.database_url,
        "TOPIC_PREFIX": settings.topic_prefix,
        "TOPIC_PARTITIONS": str(settings.topic_partitions),
        "WEBHOOKS_PORT": str(port),
        "WEBHOOKS_TIMEOUT_SECONDS": "2",
        "WEBHOOKS_BACKOFF_FIRST_SECONDS": "0.05",
        "WEBHOOKS_BACKOFF_MAX_SECONDS": "0.5",
        "WEBHOOKS_POLL_SECONDS": "0.1",
        "WEBHOOKS_BATCH_RECORDS": "20",
    }
    process = start_service("webhooks", env, log)
    try:
        yield process
    finally:
        stop(process, signal.SIGKILL)


async def test_sigkill_mid_way_then_restart_loses_no_event(
    settings: DatabaseSettings,
    topics: Topics,
    cli_database: str,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    log = tmp_path / "webhooks.log"
    async with receiver(delay=0.02) as server, database(cli_database) as engine:
        _, secret = subscribe(
            capsys, "w1", server.url("/hook"), "campaign.statistics,campaign.completed"
        )
        produce(
            settings.kafka_bootstrap,
            topics,
            [snapshot(c, "w1", seq) for seq in range(1, 41) for c in CAMPAIGNS],
        )
        with deliverer(settings, free_port(), log) as first:
            await until(lambda: len(server.delivered("/hook")) >= 20, "some deliveries")
            first.send_signal(signal.SIGKILL)
            assert await asyncio.to_thread(first.wait, 10) == -signal.SIGKILL
        pending = await rows(
            engine, "SELECT count(*) AS n FROM webhook_deliveries WHERE delivered_at IS NULL"
        )
        assert pending[0]["n"] > 0, "every delivery was made: the kill proved nothing"

        # produced while it is dead: read from the committed offsets after the restart
        finished = datetime.now(UTC)
        produce(
            settings.kafka_bootstrap,
            topics,
            [
                snapshot(c, "w1", seq, finished if seq == 50 else None)
                for seq in range(41, 51)
                for c in CAMPAIGNS
            ],
        )
        expected = {
            *(event for c in CAMPAIGNS for event in statistics_ids(c, range(1, 51))),
            *(completed_id(c, finished) for c in CAMPAIGNS),
        }
        port = free_port()
        with deliverer(settings, port, log) as second:
            await until(
                lambda: set(server.delivered("/hook")) >= expected,
                f"every event after the restart (log: {log})",
            )
            async with (
                ClientSession() as http,
                http.get(f"http://127.0.0.1:{port}/healthz") as health,
            ):
                assert health.status == 200 and (await health.json())["status"] == "ok"
            second.send_signal(signal.SIGTERM)
            assert await asyncio.to_thread(second.wait, 30) == 0, log.read_text()
        delivered = server.delivered("/hook")
        assert set(delivered) == expected  # duplicates allowed, nothing else
        for request in server.requests:
            verify(request, secret)
        left = await rows(
            engine,
            "SELECT count(*) AS n, count(DISTINCT event_id) AS ids FROM webhook_deliveries "
            "WHERE delivered_at IS NULL",
        )
        assert left == [{"n": 0, "ids": 0}]

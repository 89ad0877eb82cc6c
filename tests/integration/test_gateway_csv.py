"""The CSV export streams: a 200,000-recipient campaign is exported by a real gateway process
whose peak memory barely moves, and the first bytes arrive before the database is read through.

Building the CSV in memory would need well over the limit: the rows alone are ~40 MB of text,
and as Python rows several times that."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import aiohttp
import psycopg
import pytest

from contract.settings import DatabaseSettings
from tests.integration.gateway_support import (
    gateway_settings,
    insert_campaign,
    prepare_database,
    start_gateway_process,
    token,
    wait_ready,
)

pytestmark = pytest.mark.integration

ROWS = 200_000
MAX_GROWTH_KB = 20_000


def peak_rss_kb(pid: int) -> int:
    """VmHWM: the process's peak resident set so far."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise AssertionError("no VmHWM")


def copy_recipients(database_url: str, campaign_id: str, n: int) -> None:
    now = datetime.now(UTC).isoformat()
    title = "message undeliverable: recipient unreachable " * 3
    url = database_url.replace("postgresql+psycopg://", "postgresql://")
    with (
        psycopg.connect(url) as conn,
        conn.cursor() as cur,
        cur.copy(
            "COPY message_status (message_id, campaign_id, workspace_id, recipient, status, "
            "max_rank, failed, dispatched_at, failed_at, error_code, error_title, updated_at) "
            "FROM STDIN"
        ) as copy,
    ):
        for i in range(n):
            copy.write_row(
                (
                    f"wamid.{i:012d}",
                    campaign_id,
                    "W",
                    f"+49151{i:08d}",
                    "failed",
                    0,
                    True,
                    now,
                    now,
                    "131026",
                    title,
                    now,
                )
            )


async def test_csv_export_of_a_large_campaign_streams_in_bounded_memory(
    settings: DatabaseSettings,
) -> None:
    engine = prepare_database(settings.database_url)
    insert_campaign(engine, "big", "W")
    await asyncio.to_thread(copy_recipients, settings.database_url, "big", ROWS)
    cfg = gateway_settings(settings)
    base = f"http://{cfg.bind_host}:{cfg.gateway_port}"
    proc = start_gateway_process(cfg)
    try:
        await wait_ready(base, proc)
        url = f"{base}/api/campaigns/big/recipients.csv?token={token('W')}"
        async with aiohttp.ClientSession() as http:
            # warm up: imports, pools and buffers the first request allocates
            async with http.get(
                f"{base}/api/campaigns/big/recipients?limit=1000",
                headers={"Authorization": f"Bearer {token('W')}"},
            ) as resp:
                assert resp.status == 200
            before = peak_rss_kb(proc.pid)
            lines = 0
            size = 0
            async with http.get(url) as resp:
                assert resp.status == 200
                async for chunk in resp.content.iter_chunked(1 << 16):
                    lines += chunk.count(b"\n")
                    size += len(chunk)
            growth = peak_rss_kb(proc.pid) - before
        assert lines == ROWS + 1
        assert size > 2 * MAX_GROWTH_KB * 1024  # the CSV is far bigger than the allowed growth
        assert growth < MAX_GROWTH_KB, f"peak RSS grew by {growth} kB while exporting"
    finally:
        proc.kill()
        proc.wait()

"""Exports and lookups against a real gateway: CSV cells a spreadsheet would run as formulas are
escaped; stalled downloads hold only the export slots (never the reads of everyone else) and are
cut after the write timeout; campaigns resolve within the token's workspace even when one
workspace's uuid is another's id; Pusher sockets are capped per process and per address."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import socket
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
import sqlalchemy as sa

from contract.schema import message_status
from contract.settings import DatabaseSettings
from gateway.keys import EXPORT_SLOTS
from gateway.settings import GatewaySettings
from tests.integration.gateway_support import (
    gateway_settings,
    insert_campaign,
    make_snapshot,
    prepare_database,
    produce_snapshots,
    running_gateway,
    store_snapshot,
    token,
    wait_until,
)

pytestmark = pytest.mark.integration


def bearer(workspace: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(workspace)}"}


def insert_messages(
    engine: sa.Engine, campaign_id: str, workspace: str, rows: list[dict[str, Any]]
) -> None:
    now = datetime.now(UTC)
    base: dict[str, Any] = {
        "campaign_id": campaign_id,
        "workspace_id": workspace,
        "status": "failed",
    }
    base |= {"max_rank": 0, "failed": True, "dispatched_at": now, "updated_at": now}
    with engine.begin() as conn:
        conn.execute(message_status.insert(), [base | row for row in rows])


def many_messages(engine: sa.Engine, campaign_id: str, workspace: str, n: int) -> None:
    rows = [
        {"message_id": f"m{i:06d}", "recipient": f"+4915{i:08d}", "error_title": "x" * 200}
        for i in range(n)
    ]
    insert_messages(engine, campaign_id, workspace, rows)


async def receive_json(ws: aiohttp.ClientWebSocketResponse) -> Any:
    msg = await ws.receive(timeout=20)
    assert msg.type is aiohttp.WSMsgType.TEXT, msg
    return json.loads(msg.data)


def stalled_download(cfg: GatewaySettings, path: str) -> socket.socket:
    """A client that asks for ``path`` and then never reads (a tiny receive buffer makes the
    gateway's writes back up at once)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((cfg.bind_host, cfg.gateway_port))
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    return sock


async def test_csv_cells_that_would_run_as_formulas_are_escaped(
    settings: DatabaseSettings,
) -> None:
    engine = prepare_database(settings.database_url)
    insert_campaign(engine, "c1", "W")
    given = {
        "m1": ('=HYPERLINK("http://evil","x")', "+SUM(1,2)", "-2+3", "@cmd", "+4915123456"),
        "m2": ("\t=1", "\r=1", "=1", "-1", "plain"),
    }
    # a message's labels come from its sender as received, too
    labels = {
        "m1": ("=cmd|' /C calc'!A0", "+A", ["=1+1", "spring"]),
        "m2": ("welcome", "B", ["promo", "spring"]),
    }
    insert_messages(
        engine,
        "c1",
        "W",
        [
            {
                "message_id": message_id,
                "recipient": recipient,
                "error_title": title,
                "error_code": code,
                "skip_reason_code": reason_code,
                "skip_reason": reason,
                "template": labels[message_id][0],
                "variant": labels[message_id][1],
                "tags": labels[message_id][2],
            }
            for message_id, (recipient, title, code, reason_code, reason) in given.items()
        ],
    )
    cfg = gateway_settings(settings)
    async with running_gateway(cfg) as (_, base), aiohttp.ClientSession() as http:
        async with http.get(f"{base}/api/campaigns/c1/recipients.csv", headers=bearer("W")) as resp:
            assert resp.status == 200
            reader = csv.DictReader(io.StringIO(await resp.text()))
            rows = {row["message_id"]: row for row in reader}
        async with http.get(f"{base}/api/campaigns/c1/recipients", headers=bearer("W")) as resp:
            as_json = {r["message_id"]: r for r in (await resp.json())["recipients"]}
    columns = ("recipient", "error_title", "error_code", "skip_reason_code", "skip_reason")
    assert [rows["m1"][c] for c in columns] == [
        '\'=HYPERLINK("http://evil","x")',
        "'+SUM(1,2)",
        "'-2+3",
        "'@cmd",
        "+4915123456",  # a phone number is a number to a spreadsheet, not a formula
    ]
    assert [rows["m2"][c] for c in columns] == ["'\t=1", "'\r=1", "'=1", "-1", "plain"]
    # the labels are the last columns, after every older one; the tags share one cell
    assert reader.fieldnames is not None
    assert reader.fieldnames[-5:] == [
        "skip_reason_code",
        "skip_reason",
        "template",
        "variant",
        "tags",
    ]
    labelled = ("template", "variant", "tags")
    assert [rows["m1"][c] for c in labelled] == ["'=cmd|' /C calc'!A0", "'+A", "'=1+1;spring"]
    assert [rows["m2"][c] for c in labelled] == ["welcome", "B", "promo;spring"]
    assert as_json["m1"]["recipient"] == given["m1"][0]  # JSON readers get the data as it is
    assert [as_json["m1"][c] for c in labelled] == list(labels["m1"])


async def test_stalled_exports_hold_only_their_slots_and_are_cut_after_the_write_timeout(
    settings: DatabaseSettings,
) -> None:
    engine = prepare_database(settings.database_url)
    insert_campaign(engine, "big", "W")
    await asyncio.to_thread(many_messages, engine, "big", "W", 30_000)
    cfg = gateway_settings(
        settings, gateway_export_slots=2, gateway_export_write_timeout_seconds=600.0
    )
    export = f"/api/campaigns/big/recipients.csv?token={token('W')}"
    async with running_gateway(cfg) as (app, base), aiohttp.ClientSession() as http:
        stalled = [stalled_download(cfg, export) for _ in range(2)]
        try:
            await wait_until(lambda: app[EXPORT_SLOTS].busy == 2, what="two stalled exports")
            async with http.get(f"{base}{export}") as resp:
                assert resp.status == 503
                assert int(resp.headers["Retry-After"]) > 0
                assert (await resp.json())["error"] == "busy"

            async def read(path: str) -> int:
                async with http.get(f"{base}{path}", headers=bearer("W")) as resp:
                    await resp.read()
                    return resp.status

            # more reads at once than the main pool has connections, every one answered
            paths = ["/api/campaigns", "/api/campaigns/big/recipients?limit=1000"] * 15
            assert set(await asyncio.gather(*(read(p) for p in paths))) == {200}
        finally:
            for sock in stalled:
                sock.close()
        await wait_until(lambda: app[EXPORT_SLOTS].busy == 0, what="slots released on close")
        async with http.get(f"{base}{export}") as resp:
            assert resp.status == 200
            assert (await resp.read()).count(b"\n") == 30_001

    cut = gateway_settings(
        settings, gateway_export_slots=1, gateway_export_write_timeout_seconds=1.0
    )
    async with running_gateway(cut) as (app, base), aiohttp.ClientSession() as http:
        sock = stalled_download(cut, export)
        try:
            await wait_until(lambda: app[EXPORT_SLOTS].busy == 1, what="a stalled export")
            # the write timeout cuts it: the slot frees although the client never closes
            await wait_until(lambda: app[EXPORT_SLOTS].busy == 0, within=60, what="the cut")
            async with http.get(f"{base}{export}") as resp:
                assert resp.status == 200
        finally:
            sock.close()


async def test_a_campaign_resolves_within_the_tokens_workspace_only(
    settings: DatabaseSettings,
) -> None:
    engine = prepare_database(settings.database_url)
    # A's campaign uuid is B's campaign id, and the other way round
    insert_campaign(engine, "a1", "A", uuid="dup")
    insert_campaign(engine, "dup", "B", uuid="a1")
    store_snapshot(engine, make_snapshot("a1", "A", 1, uuid="dup", sent=11))
    store_snapshot(engine, make_snapshot("dup", "B", 1, uuid="a1", sent=22))
    insert_messages(engine, "a1", "A", [{"message_id": "ma", "recipient": "a-recipient"}])
    insert_messages(engine, "dup", "B", [{"message_id": "mb", "recipient": "b-recipient"}])
    # registered only (no snapshot held in memory): resolved by the database
    insert_campaign(engine, "a2", "A", uuid="dup2")
    insert_campaign(engine, "dup2", "B", uuid="b2")
    insert_messages(engine, "a2", "A", [{"message_id": "ma2", "recipient": "a-recipient"}])
    insert_messages(engine, "dup2", "B", [{"message_id": "mb2", "recipient": "b-recipient"}])
    cfg = gateway_settings(settings, public_channels=True)
    async with running_gateway(cfg) as (_, base), aiohttp.ClientSession() as http:
        for workspace, ref, campaign, sent in (
            ("A", "dup", "a1", 11),
            ("A", "a1", "a1", 11),
            ("B", "dup", "dup", 22),
            ("B", "a1", "dup", 22),
        ):
            async with http.get(f"{base}/api/campaigns/{ref}", headers=bearer(workspace)) as resp:
                snapshot = await resp.json()
            assert snapshot["campaign_id"] == campaign, (workspace, ref)
            assert snapshot["statistics"]["total_sent_count"] == sent
            async with http.get(
                f"{base}/api/campaigns/{ref}/recipients", headers=bearer(workspace)
            ) as resp:
                recipients = (await resp.json())["recipients"]
            assert [r["recipient"] for r in recipients] == [f"{workspace.lower()}-recipient"]
        for workspace in ("A", "B"):
            async with http.get(
                f"{base}/api/campaigns/dup2/recipients", headers=bearer(workspace)
            ) as resp:
                recipients = (await resp.json())["recipients"]
            assert [r["recipient"] for r in recipients] == [f"{workspace.lower()}-recipient"]
        async with http.get(f"{base}/api/campaigns/b2/recipients", headers=bearer("A")) as resp:
            assert resp.status == 404

        # live: each workspace's socket on campaign.dup gets its own campaign only
        sockets = {}
        for workspace in ("A", "B"):
            ws = await http.ws_connect(f"{base}/ws?token={token(workspace)}")
            await ws.send_str(json.dumps({"action": "subscribe", "channel": "campaign.dup"}))
            assert (await receive_json(ws))["type"] == "subscribed"
            current = await receive_json(ws)
            assert current["data"]["workspace_id"] == workspace
            sockets[workspace] = ws
        produce_snapshots(
            settings,
            [
                make_snapshot("dup", "B", 2, uuid="a1", sent=23),
                make_snapshot("a1", "A", 2, uuid="dup", sent=12),
            ],
        )
        for workspace, campaign in (("A", "a1"), ("B", "dup")):
            live = await receive_json(sockets[workspace])
            assert (live["data"]["campaign_id"], live["data"]["seq"]) == (campaign, 2)
            await sockets[workspace].send_str(json.dumps({"action": "ping"}))
            assert await receive_json(sockets[workspace]) == {"type": "pong"}  # nothing else
            await sockets[workspace].close()


async def pusher_hello(http: aiohttp.ClientSession, url: str) -> tuple[Any, Any]:
    ws = await http.ws_connect(url)
    return ws, await receive_json(ws)


async def test_pusher_sockets_are_capped_per_process_and_per_address(
    settings: DatabaseSettings,
) -> None:
    prepare_database(settings.database_url)
    cfg = gateway_settings(settings, pusher_max_connections=3, pusher_max_connections_per_address=2)
    url = f"http://{cfg.bind_host}:{cfg.gateway_port}/app/{cfg.pusher_app_key}?protocol=7"
    async with running_gateway(cfg), aiohttp.ClientSession() as here:
        elsewhere = {
            address: aiohttp.ClientSession(connector=aiohttp.TCPConnector(local_addr=(address, 0)))
            for address in ("127.0.0.2", "127.0.0.3")
        }
        try:
            held = []
            for _ in range(2):
                ws, hello = await pusher_hello(here, url)
                assert hello["event"] == "pusher:connection_established"
                held.append(ws)
            ws, refused = await pusher_hello(here, url)  # a third from the same address
            assert refused["event"] == "pusher:error"
            assert json.loads(refused["data"])["code"] == 4100
            await ws.receive()
            assert ws.close_code == 4100  # pusher-js backs off and retries
            ws, hello = await pusher_hello(elsewhere["127.0.0.2"], url)
            assert hello["event"] == "pusher:connection_established"
            held.append(ws)
            ws, refused = await pusher_hello(elsewhere["127.0.0.3"], url)  # the process is full
            assert json.loads(refused["data"]) == {"code": 4100, "message": "Over capacity"}
            await ws.receive()
            await held.pop(0).close()
            # room again once one leaves
            while True:
                ws, hello = await pusher_hello(elsewhere["127.0.0.3"], url)
                if hello["event"] == "pusher:connection_established":
                    break
                await ws.receive()
                await asyncio.sleep(0.05)
            held.append(ws)
            for ws in held:
                await ws.close()
        finally:
            for session in elsewhere.values():
                await session.close()

"""REST and native WebSocket of the gateway against real PostgreSQL and Kafka: workspace scoping,
snapshots at subscribe and live, paging, series, malformed frames, and a slow client that does
not hold back a fast one."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
import sqlalchemy as sa

from contract.schema import message_status
from contract.settings import DatabaseSettings
from gateway.fanout import Protocol
from gateway.keys import HUB, METRICS
from tests.integration.gateway_support import (
    gateway_settings,
    insert_campaign,
    make_snapshot,
    prepare_database,
    produce_snapshots,
    running_gateway,
    store_snapshot,
    store_window,
    token,
    wait_until,
)

pytestmark = pytest.mark.integration


def auth(workspace: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(workspace)}"}


def insert_recipients(engine: sa.Engine, campaign_id: str, workspace: str, n: int) -> None:
    now = datetime.now(UTC)
    rows = [
        {
            "message_id": f"m{i:05d}",
            "campaign_id": campaign_id,
            "workspace_id": workspace,
            "recipient": f"+4915{i:07d}",
            "status": "failed" if i % 3 == 0 else "delivered",
            "max_rank": 0 if i % 3 == 0 else 2,
            "failed": i % 3 == 0,
            "dispatched_at": now,
            "delivered_at": None if i % 3 == 0 else now,
            "failed_at": now if i % 3 == 0 else None,
            "error_code": "131026" if i % 3 == 0 else "",
            "error_title": 'undeliverable, "quoted"' if i % 3 == 0 else "",
            "updated_at": now,
        }
        for i in range(n)
    ]
    if rows:
        with engine.begin() as conn:
            conn.execute(message_status.insert(), rows)


async def receive_json(ws: aiohttp.ClientWebSocketResponse, within: float = 20.0) -> Any:
    msg = await ws.receive(timeout=within)
    assert msg.type is aiohttp.WSMsgType.TEXT, msg
    return json.loads(msg.data)


async def receive_until(
    ws: aiohttp.ClientWebSocketResponse, match: Any, within: float = 30.0
) -> Any:
    async with asyncio.timeout(within):
        while True:
            frame = await receive_json(ws, within)
            if match(frame):
                return frame


async def test_rest_is_scoped_to_the_token_workspace(settings: DatabaseSettings) -> None:
    engine = prepare_database(settings.database_url)
    insert_campaign(engine, "a1", "A", uuid="uuid-a1")
    insert_campaign(engine, "b1", "B", uuid="uuid-b1")
    store_snapshot(engine, make_snapshot("a1", "A", 3, uuid="uuid-a1", sent=30))
    store_snapshot(engine, make_snapshot("b1", "B", 4, uuid="uuid-b1", sent=40))
    insert_recipients(engine, "b1", "B", 5)
    cfg = gateway_settings(settings)
    async with running_gateway(cfg) as (_, base), aiohttp.ClientSession() as http:
        async with http.get(f"{base}/api/campaigns", headers=auth("A")) as resp:
            body = await resp.json()
        assert resp.status == 200
        assert [c["campaign_id"] for c in body["campaigns"]] == ["a1"]
        assert body["campaigns"][0]["statistics"]["total_sent_count"] == 30
        assert body["campaigns"][0]["campaign_uuid"] == "uuid-a1"

        async with http.get(f"{base}/api/campaigns/a1", headers=auth("A")) as resp:
            assert resp.status == 200
            snapshot = await resp.json()
        assert snapshot["seq"] == 3
        funnel = snapshot["statistics"]
        assert (funnel["skipped_count"], funnel["queued_count"]) == (10, 955)
        assert funnel["awaiting_update_count"] == 5 and funnel["completed_at"] is None
        assert funnel["started_at"].endswith("Z")
        # by uuid too; ?token= only where a browser cannot send a header (a download link)
        async with http.get(f"{base}/api/campaigns/uuid-a1", headers=auth("A")) as resp:
            assert resp.status == 200
        async with http.get(f"{base}/api/campaigns/uuid-a1?token={token('A')}") as resp:
            assert resp.status == 401
            assert "Bearer" in (await resp.json())["message"]
        async with http.get(f"{base}/api/campaigns/a1/recipients.csv?token={token('A')}") as resp:
            assert resp.status == 200

        for path in ("", "/series", "/recipients", "/recipients.csv"):
            async with http.get(f"{base}/api/campaigns/b1{path}", headers=auth("A")) as resp:
                assert resp.status == 404, path
                assert "40" not in await resp.text()
            async with http.get(f"{base}/api/campaigns/nope{path}", headers=auth("A")) as resp:
                assert resp.status == 404, path
        async with http.get(f"{base}/api/campaigns/b1/recipients", headers=auth("B")) as resp:
            assert len((await resp.json())["recipients"]) == 5

        async with http.get(f"{base}/api/campaigns") as resp:
            assert resp.status == 401
        forged = token("A")[:-2] + "xx"
        async with http.get(
            f"{base}/api/campaigns", headers={"Authorization": f"Bearer {forged}"}
        ) as resp:
            assert resp.status == 401
        async with http.get(f"{base}/healthz") as resp:
            assert resp.status == 200
        for missing in ("/static/no-such-file.js", "/static/%2E%2E/app.py", "/static/../keys.py"):
            async with http.get(f"{base}{missing}") as resp:
                assert resp.status == 404, missing
        async with http.get(f"{base}/metrics") as resp:
            text = await resp.text()
        assert "gateway_connections" in text and "gateway_push_latency_seconds_bucket" in text
        async with http.get(f"{base}/readyz") as resp:
            assert resp.status == 200


async def test_recipients_pages_by_keyset_and_csv_matches(settings: DatabaseSettings) -> None:
    engine = prepare_database(settings.database_url)
    insert_campaign(engine, "c1", "W")
    insert_recipients(engine, "c1", "W", 120)
    insert_recipients(engine, "other", "W", 0)
    async with (
        running_gateway(gateway_settings(settings)) as (_, base),
        aiohttp.ClientSession() as http,
    ):
        seen: list[str] = []
        after = ""
        while True:
            url = f"{base}/api/campaigns/c1/recipients?limit=50&after={after}"
            async with http.get(url, headers=auth("W")) as resp:
                page = await resp.json()
            seen += [r["message_id"] for r in page["recipients"]]
            if page["next"] is None:
                break
            after = page["next"]
        assert seen == [f"m{i:05d}" for i in range(120)]

        url = f"{base}/api/campaigns/c1/recipients?status=failed&limit=1000"
        async with http.get(url, headers=auth("W")) as resp:
            failed = (await resp.json())["recipients"]
        assert len(failed) == 40 and {r["status"] for r in failed} == {"failed"}
        assert failed[0]["error_code"] == "131026" and failed[0]["failed_at"].endswith("Z")

        for bad in ("limit=0", "limit=1001", "limit=x", "status=lost"):
            async with http.get(
                f"{base}/api/campaigns/c1/recipients?{bad}", headers=auth("W")
            ) as resp:
                assert resp.status == 400, bad
                assert (await resp.json())["error"] == "invalid_parameter"

        async with http.get(f"{base}/api/campaigns/c1/recipients.csv", headers=auth("W")) as resp:
            assert resp.status == 200
            assert resp.headers["Content-Type"].startswith("text/csv")
            text = await resp.text()
        import csv
        import io

        rows = list(csv.reader(io.StringIO(text)))
        assert rows[0][:3] == ["message_id", "recipient", "status"]
        assert len(rows) == 121
        assert rows[1][0] == "m00000"
        assert rows[1][rows[0].index("error_title")] == 'undeliverable, "quoted"'
        # columns are only ever appended: the skip reasons, then the message's labels
        assert rows[0][-5:] == ["skip_reason_code", "skip_reason", "template", "variant", "tags"]
        assert rows[1][-3:] == ["", "", ""]


async def test_series_sums_windows_into_steps(settings: DatabaseSettings) -> None:
    engine = prepare_database(settings.database_url)
    insert_campaign(engine, "s1", "W")
    t0 = datetime(2026, 11, 1, 12, 0, 0, tzinfo=UTC)
    for i in range(10):
        store_window(
            engine,
            "s1",
            "W",
            t0 + timedelta(seconds=i),
            seq=i + 1,
            sent=i,
            total_sent=sum(range(i + 1)),
            skipped=i % 2,
        )
    async with (
        running_gateway(gateway_settings(settings)) as (_, base),
        aiohttp.ClientSession() as http,
    ):
        frm = t0.isoformat().replace("+00:00", "Z")
        to = (t0 + timedelta(seconds=10)).isoformat()
        url = f"{base}/api/campaigns/s1/series?from={frm}&to={to}&step=5"
        async with http.get(url.replace("+", "%2B"), headers=auth("W")) as resp:
            body = await resp.json()
        assert resp.status == 200, body
        assert body["step"] == 5
        assert [p["sent"] for p in body["points"]] == [0 + 1 + 2 + 3 + 4, 5 + 6 + 7 + 8 + 9]
        assert [p["total_sent_count"] for p in body["points"]] == [10, 45]
        assert [p["skipped"] for p in body["points"]] == [2, 3]
        assert body["points"][0]["start"] == "2026-11-01T12:00:00Z"
        assert body["points"][1]["end"] == "2026-11-01T12:00:10Z"
        async with http.get(f"{base}/api/campaigns/s1/series?step=0.1", headers=auth("W")) as resp:
            assert resp.status == 400


async def test_ws_sends_current_snapshot_then_live_ones_and_scopes_channels(
    settings: DatabaseSettings,
) -> None:
    engine = prepare_database(settings.database_url)
    insert_campaign(engine, "a1", "A")
    insert_campaign(engine, "b1", "B")
    store_snapshot(engine, make_snapshot("a1", "A", 3, sent=30))
    # written to Kafka but not (yet) to the database: the start-up replay must pick it up
    produce_snapshots(settings, [make_snapshot("a1", "A", 5, sent=50)])
    async with (
        running_gateway(gateway_settings(settings)) as (_, base),
        aiohttp.ClientSession() as http,
    ):
        for query in ("", "?token=garbage"):
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await http.ws_connect(f"{base}/ws{query}")
            assert refused.value.status == 401

        async with http.ws_connect(f"{base}/ws?token={token('A')}") as ws:
            await ws.send_str(json.dumps({"action": "subscribe", "channel": "campaign.a1"}))
            assert await receive_json(ws) == {"type": "subscribed", "channel": "campaign.a1"}
            first = await receive_json(ws)
            assert first["type"] == "snapshot" and first["channel"] == "campaign.a1"
            assert first["data"]["seq"] == 5
            assert first["data"]["statistics"]["total_sent_count"] == 50
            assert first["data"]["statistics"]["skipped_count"] == 10
            assert first["data"]["statistics"]["queued_count"] == 935

            produce_snapshots(settings, [make_snapshot("a1", "A", 6, sent=60)])
            live = await receive_until(ws, lambda f: f.get("type") == "snapshot")
            assert live["data"]["seq"] == 6

            for channel, code in (
                ("workspace.B", "forbidden"),
                ("campaign.b1", "not_found"),
                ("campaign.unknown", "not_found"),
                ("private-campaign.a1", "invalid_channel"),
            ):
                await ws.send_str(json.dumps({"action": "subscribe", "channel": channel}))
                error = await receive_json(ws)
                assert error["type"] == "error" and error["code"] == code, (channel, error)

            for bad in (
                "{not json",
                "[1,2]",
                json.dumps({"action": 5}),
                json.dumps({"action": "dance"}),
            ):
                await ws.send_str(bad)
                assert (await receive_json(ws))["type"] == "error"
            await ws.send_bytes(b"\x00\x01")
            assert (await receive_json(ws))["code"] == "bad_frame"
            await ws.send_str(json.dumps({"action": "ping"}))
            assert await receive_json(ws) == {"type": "pong"}

            # B's snapshot never reaches A, even on A's workspace channel
            await ws.send_str(json.dumps({"action": "subscribe", "channel": "workspace.A"}))
            assert (await receive_json(ws))["type"] == "subscribed"
            assert (await receive_json(ws))["data"]["campaign_id"] == "a1"
            produce_snapshots(
                settings,
                [make_snapshot("b1", "B", 1, sent=1), make_snapshot("a1", "A", 7, sent=70)],
            )
            frames: list[dict[str, Any]] = []
            while len(frames) < 2:
                frames.append(await receive_until(ws, lambda f: f.get("type") == "snapshot"))
            assert {(f["channel"], f["data"]["seq"]) for f in frames} == {
                ("campaign.a1", 7),
                ("workspace.A", 7),
            }
            await ws.send_str(json.dumps({"action": "unsubscribe", "channel": "campaign.a1"}))
            assert (await receive_json(ws))["type"] == "unsubscribed"


def raw_ws_client(host: str, port: int, path: str) -> socket.socket:
    """A WebSocket client that completes the handshake and then never reads: the slow client.
    A small receive buffer makes the server's writes back up quickly."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((host, port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


def masked_text_frame(text: str) -> bytes:
    payload = text.encode()
    mask = os.urandom(4)
    assert len(payload) < 126
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes([0x81, 0x80 | len(payload)]) + mask + body


async def test_a_slow_client_does_not_delay_a_fast_one(settings: DatabaseSettings) -> None:
    engine = prepare_database(settings.database_url)
    insert_campaign(engine, "x0", "W")
    cfg = gateway_settings(settings, gateway_send_timeout_seconds=15.0)
    campaigns = [f"x{i}" for i in range(3000)]
    padding = "p" * 4000  # ~4 KB per snapshot: 12 MB in all, far more than socket buffers hold
    async with running_gateway(cfg) as (app, base), aiohttp.ClientSession() as http:
        slow = await asyncio.to_thread(
            raw_ws_client, cfg.bind_host, cfg.gateway_port, f"/ws?token={token('W')}"
        )
        try:
            slow.sendall(
                masked_text_frame(json.dumps({"action": "subscribe", "channel": "workspace.W"}))
            )
            async with http.ws_connect(f"{base}/ws?token={token('W')}", max_msg_size=0) as fast:
                await fast.send_str(json.dumps({"action": "subscribe", "channel": "workspace.W"}))
                assert (await receive_json(fast))["type"] == "subscribed"
                hub = app[HUB]
                await wait_until(
                    lambda: sum(len(c.channels) for c in hub.clients) == 2, what="2 subs"
                )

                await asyncio.to_thread(
                    produce_snapshots,
                    settings,
                    [make_snapshot(c, "W", 1, sent=1, name=padding) for c in campaigns],
                )
                got: set[str] = set()
                while len(got) < len(campaigns):
                    frame = await receive_until(fast, lambda f: f.get("type") == "snapshot")
                    got.add(frame["data"]["campaign_id"])
                # The fast client has everything while the slow one is still connected and
                # still owes frames: the fast one never waited for it.
                (slow_sub,) = [
                    c
                    for c in hub.clients
                    if c.protocol is Protocol.NATIVE and not c.closed and c.pending
                ]
                assert slow_sub.pending > 0
                assert len([c for c in hub.clients if not c.closed]) == 2
                # ...and the stuck one is cut once it accepted nothing for the send timeout
                await wait_until(lambda: slow_sub.closed, within=90, what="slow client dropped")
                dropped = app[METRICS].clients_dropped.labels("stuck")._value.get()
                assert dropped == 1
                await fast.send_str(json.dumps({"action": "ping"}))
                assert await receive_until(fast, lambda f: f["type"] == "pong")
        finally:
            slow.close()


def insert_skips(engine: sa.Engine, campaign_id: str, workspace: str) -> None:
    """Two skips still standing and one whose recipient was dispatched after all (attempted)."""
    now = datetime.now(UTC)
    rows = [
        {
            "message_id": f"skip:{campaign_id}:+49160{i}",
            "campaign_id": campaign_id,
            "workspace_id": workspace,
            "recipient": f"+49160{i}",
            "status": status,
            "max_rank": 0,
            "failed": False,
            "skipped": True,
            "attempted": status == "attempted",
            "skip_reason_code": code,
            "skip_reason": reason,
            "updated_at": now,
        }
        for i, (status, code, reason) in enumerate(
            [
                ("skipped", "no_whatsapp", "no WhatsApp account"),
                ("attempted", "opted_out", "opted out"),
                ("skipped", "opted_out", "opted out, then asked again"),
            ]
        )
    ]
    with engine.begin() as conn:
        conn.execute(message_status.insert(), rows)


async def test_skipped_recipients_carry_their_reason_and_attempted_ones_are_never_listed(
    settings: DatabaseSettings,
) -> None:
    engine = prepare_database(settings.database_url)
    insert_campaign(engine, "k1", "W")
    insert_recipients(engine, "k1", "W", 6)
    insert_skips(engine, "k1", "W")
    async with (
        running_gateway(gateway_settings(settings)) as (_, base),
        aiohttp.ClientSession() as http,
    ):
        url = f"{base}/api/campaigns/k1/recipients?status=skipped"
        async with http.get(url, headers=auth("W")) as resp:
            skipped = (await resp.json())["recipients"]
        assert [(r["recipient"], r["skip_reason_code"], r["skip_reason"]) for r in skipped] == [
            ("+491600", "no_whatsapp", "no WhatsApp account"),
            ("+491602", "opted_out", "opted out, then asked again"),
        ]
        async with http.get(f"{base}/api/campaigns/k1/recipients", headers=auth("W")) as resp:
            every = (await resp.json())["recipients"]
        assert len(every) == 8 and "attempted" not in {r["status"] for r in every}
        assert {r["skip_reason_code"] for r in every if r["status"] != "skipped"} == {""}
        url = f"{base}/api/campaigns/k1/recipients?status=attempted"
        async with http.get(url, headers=auth("W")) as resp:
            assert resp.status == 400

        async with http.get(f"{base}/api/campaigns/k1/recipients.csv", headers=auth("W")) as resp:
            text = await resp.text()
        import csv
        import io

        rows = list(csv.DictReader(io.StringIO(text)))
        assert len(rows) == 8 and "attempted" not in {r["status"] for r in rows}
        assert {
            (r["recipient"], r["skip_reason_code"]) for r in rows if r["status"] == "skipped"
        } == {
            ("+491600", "no_whatsapp"),
            ("+491602", "opted_out"),
        }
        url = f"{base}/api/campaigns/k1/recipients.csv?status=skipped"
        async with http.get(url, headers=auth("W")) as resp:
            only = list(csv.DictReader(io.StringIO(await resp.text())))
        assert [r["skip_reason"] for r in only] == [
            "no WhatsApp account",
            "opted out, then asked again",
        ]

"""Crafted input against a real gateway gets a 4xx or the protocol's own error, never a 5xx, a
dead socket or a traceback: undecodable credentials, NUL bytes, absurd series bounds and JSON
nested thousands of levels deep."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from typing import Any

import aiohttp
import pytest
from aiohttp.http_exceptions import HttpProcessingError

from contract.settings import DatabaseSettings
from gateway.settings import GatewaySettings
from tests.integration.gateway_support import (
    gateway_settings,
    insert_campaign,
    make_snapshot,
    prepare_database,
    running_gateway,
    store_snapshot,
    token,
)

pytestmark = pytest.mark.integration

# 64 KB is the largest frame the gateway reads; this is far deeper than json's recursion limit
DEEP = "[" * 30_000 + "]" * 30_000


def auth(workspace: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(workspace)}"}


async def raw_status(cfg: GatewaySettings, request: bytes) -> int:
    """The status code answering ``request``, sent byte for byte (no client library between:
    the bytes a library would refuse to send are the point)."""
    reader, writer = await asyncio.open_connection(cfg.bind_host, cfg.gateway_port)
    try:
        writer.write(request)
        await writer.drain()
        status_line = await reader.readline()
    finally:
        writer.close()
    return int(status_line.split()[1])


def no_tracebacks(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Tracebacks logged, but for aiohttp's own parser refusing a request line it cannot read
    (it answers 400 before the gateway sees the request, and logs why)."""
    return [
        r.getMessage()
        for r in caplog.records
        if r.exc_info is not None and not isinstance(r.exc_info[1], HttpProcessingError)
    ]


async def receive_json(ws: aiohttp.ClientWebSocketResponse) -> Any:
    msg = await ws.receive(timeout=20)
    assert msg.type is aiohttp.WSMsgType.TEXT, msg
    return json.loads(msg.data)


def seed(settings: DatabaseSettings) -> None:
    engine = prepare_database(settings.database_url)
    insert_campaign(engine, "c1", "W", uuid="uuid-c1")
    store_snapshot(engine, make_snapshot("c1", "W", 1, uuid="uuid-c1", sent=10))


async def test_undecodable_credentials_are_refused_with_401(
    settings: DatabaseSettings, caplog: pytest.LogCaptureFixture
) -> None:
    seed(settings)
    cfg = gateway_settings(settings)
    async with running_gateway(cfg), aiohttp.ClientSession() as http:
        for path in ("/api/campaigns", "/api/campaigns/c1/recipients.csv", "/ws"):
            request = (
                f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n".encode()
                + b"Authorization: Bearer \xff\xfe.\xff\r\n\r\n"
            )
            assert await raw_status(cfg, request) == 401, path
        for query in ("token=%FF%FE.%FF", "token=%C3%A9.x"):  # a byte that is no UTF-8; é
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await http.ws_connect(f"http://{cfg.bind_host}:{cfg.gateway_port}/ws?{query}")
            assert refused.value.status == 401
        raw_query = b"GET /ws?token=\xff.\xff HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        assert await raw_status(cfg, raw_query) == 400

        # the Pusher HTTP API's signature, compared as bytes: everything else about the request
        # is right, so the comparison is reached
        body = b"{}"
        signed = {
            "auth_key": cfg.pusher_app_key,
            "auth_timestamp": str(int(time.time())),
            "auth_version": "1.0",
            "body_md5": hashlib.md5(body).hexdigest(),
        }
        path = f"/apps/{cfg.pusher_app_id}/events"
        for signature in ("é", "\udcff", "\ud800"):
            async with http.post(
                f"http://{cfg.bind_host}:{cfg.gateway_port}{path}",
                params=signed | {"auth_signature": signature},
                data=body,
            ) as resp:
                assert resp.status == 401
                assert (await resp.json())["message"] == "invalid auth_signature"
        signed_query = "&".join(f"{k}={v}" for k, v in signed.items()).encode()
        request = (
            b"POST "
            + path.encode()
            + b"?"
            + signed_query
            + b"&auth_signature=\xff\xfe HTTP/1.1\r\n"
            b"Host: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\n" + body
        )
        assert await raw_status(cfg, request) == 400  # aiohttp refuses such a URL itself
    assert no_tracebacks(caplog) == []


async def test_nul_bytes_and_absurd_series_bounds_get_4xx(
    settings: DatabaseSettings, caplog: pytest.LogCaptureFixture
) -> None:
    seed(settings)
    cfg = gateway_settings(settings)
    async with running_gateway(cfg) as (_, base), aiohttp.ClientSession() as http:
        answers = {
            "/static/%00": 404,
            "/static/js/%00.js": 404,
            "/api/campaigns/c%00": 404,
            "/api/campaigns/c%00/recipients": 404,
            "/api/campaigns/c%00/series": 404,
            "/api/campaigns/c%00/recipients.csv": 404,
            "/api/campaigns/c1/recipients?after=%00": 400,
            "/api/campaigns/c1/recipients?after=m%00x&status=sent": 400,
            "/api/campaigns/c1/series?step=1e300": 400,
            "/api/campaigns/c1/series?step=inf": 400,
            "/api/campaigns/c1/series?step=nan": 400,
            "/api/campaigns/c1/series?step=-inf": 400,
            "/api/campaigns/c1/series?to=0001-01-01T00:30:00Z": 400,
            "/api/campaigns/c1/series?from=0001-01-01T00:00:00Z": 400,
            "/api/campaigns/c1/series?to=0001-01-01T00:30:00%2B01:00": 400,
            "/api/campaigns/c1/series?to=9999-12-31T23:59:59Z": 400,
            "/api/campaigns/c1/series?from=2020-01-01T00:00:00Z&to=2020-01-01T01:00:00Z": 200,
        }
        for path, status in answers.items():
            async with http.get(f"{base}{path}", headers=auth("W")) as resp:
                assert resp.status == status, (path, await resp.text())
                if status == 400:
                    parameter = path.split("?")[1].split("=")[0]
                    body = await resp.json()
                    assert body["error"] == "invalid_parameter"
                    assert body["message"].startswith(parameter), body

        # a NUL (or a lone surrogate) in a channel or an auth request names nothing
        async with http.ws_connect(f"{base}/ws?token={token('W')}") as ws:
            for name in ("campaign.c\u0000", "campaign.\ud800"):
                await ws.send_str(json.dumps({"action": "subscribe", "channel": name}))
                error = await receive_json(ws)
                assert error["type"] == "error" and error["code"] == "not_found", error
        form = {"socket_id": "1.1", "channel_name": "private-campaign.c\u0000"}
        async with http.post(f"{base}/broadcasting/auth", data=form, headers=auth("W")) as resp:
            assert resp.status == 403
    assert no_tracebacks(caplog) == []


async def test_json_nested_thousands_deep_gets_the_protocols_error(
    settings: DatabaseSettings, caplog: pytest.LogCaptureFixture
) -> None:
    seed(settings)
    caplog.set_level(logging.INFO)
    cfg = gateway_settings(settings, public_channels=True)
    async with running_gateway(cfg) as (_, base), aiohttp.ClientSession() as http:
        async with http.ws_connect(f"{base}/ws?token={token('W')}") as ws:
            for frame in (DEEP, '{"action": "subscribe", "channel": ' + DEEP + "}"):
                await ws.send_str(frame)
                error = await receive_json(ws)
                assert error["type"] == "error" and error["code"] == "bad_frame", error
            await ws.send_str(json.dumps({"action": "ping"}))
            assert await receive_json(ws) == {"type": "pong"}  # the socket lives on

        async with http.ws_connect(f"{base}/app/{cfg.pusher_app_key}?protocol=7") as ws:
            assert (await receive_json(ws))["event"] == "pusher:connection_established"
            for frame in (DEEP, json.dumps({"event": "pusher:subscribe", "data": DEEP})):
                await ws.send_str(frame)
                error = await receive_json(ws)
                assert error["event"] == "pusher:error", error
            # nested just shallow enough to parse: no field is ever rendered with str()
            nested = json.loads("[" * 400 + "]" * 400)
            unsubscribe = {"event": "pusher:unsubscribe", "data": {"channel": nested}}
            await ws.send_str(json.dumps(unsubscribe))
            subscribe = {"channel": "private-campaign.c1", "auth": nested}
            await ws.send_str(json.dumps({"event": "pusher:subscribe", "data": subscribe}))
            refused = await receive_json(ws)
            assert refused["event"] == "pusher:subscription_error"
            assert json.loads(refused["data"])["status"] == 403
            await ws.send_str(json.dumps({"event": "pusher:ping", "data": {}}))
            assert (await receive_json(ws))["event"] == "pusher:pong"

        # the Pusher HTTP API and the auth endpoint read JSON bodies too
        async with http.post(
            f"{base}/broadcasting/auth",
            data=DEEP,
            headers=auth("W") | {"Content-Type": "application/json"},
        ) as resp:
            assert resp.status == 400
    assert no_tracebacks(caplog) == []

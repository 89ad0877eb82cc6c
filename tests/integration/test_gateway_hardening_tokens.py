"""Workspace tokens against a real gateway: ``?token=`` only where a browser cannot send a header,
no token in the access log, revocation by key id (``tickstream token --revoke``) and expiry that
end open sockets too, and a gateway that will not start with a short ``TOKEN_SECRET``."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any

import aiohttp
import pytest

from contract.settings import DatabaseSettings, SettingsError
from gateway.app import create_app
from gateway.auth import issue_token, verify_token
from gateway.settings import GatewaySettings
from tests.integration.gateway_support import (
    ROOT,
    TOKEN_SECRET,
    gateway_env,
    gateway_settings,
    insert_campaign,
    make_snapshot,
    prepare_database,
    running_gateway,
    store_snapshot,
    token,
    wait_ready,
)
from tickstream.cli import main as tickstream

pytestmark = pytest.mark.integration


def gateway_logging_to(cfg: GatewaySettings, log: IO[bytes]) -> subprocess.Popen[bytes]:
    """``python -m gateway`` as deployed, its log (stderr) in ``log``."""
    argv = [sys.executable, "-m", "gateway"]
    return subprocess.Popen(argv, env=gateway_env(cfg), cwd=ROOT, stderr=log)


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


def seed(settings: DatabaseSettings) -> None:
    engine = prepare_database(settings.database_url)
    insert_campaign(engine, "a1", "A", uuid="uuid-a1")
    store_snapshot(engine, make_snapshot("a1", "A", 1, uuid="uuid-a1", sent=10))


async def receive_json(ws: aiohttp.ClientWebSocketResponse) -> Any:
    msg = await ws.receive(timeout=20)
    assert msg.type is aiohttp.WSMsgType.TEXT, msg
    return json.loads(msg.data)


async def closed_with(ws: aiohttp.ClientWebSocketResponse) -> tuple[int | None, str]:
    """Read until the server closes the socket: its close code and reason."""
    while True:
        msg = await ws.receive(timeout=60)
        if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
            return ws.close_code, str(msg.extra or "")


async def pusher_private_socket(
    http: aiohttp.ClientSession, base: str, cfg: GatewaySettings, channel: str, workspace_token: str
) -> aiohttp.ClientWebSocketResponse:
    """A Pusher socket subscribed to ``channel`` with the gateway's own signature for it."""
    ws = await http.ws_connect(f"{base}/app/{cfg.pusher_app_key}?protocol=7")
    hello = await receive_json(ws)
    socket_id = json.loads(hello["data"])["socket_id"]
    form = {"socket_id": socket_id, "channel_name": channel}
    async with http.post(
        f"{base}/broadcasting/auth", data=form, headers=bearer(workspace_token)
    ) as resp:
        assert resp.status == 200, await resp.text()
        signature = (await resp.json())["auth"]
    subscribe = {"event": "pusher:subscribe", "data": {"channel": channel, "auth": signature}}
    await ws.send_str(json.dumps(subscribe))
    assert (await receive_json(ws))["event"] == "pusher_internal:subscription_succeeded"
    return ws


async def test_a_query_token_is_taken_only_by_the_websocket_and_the_csv_link(
    settings: DatabaseSettings,
) -> None:
    seed(settings)
    cfg = gateway_settings(settings)
    async with running_gateway(cfg) as (_, base), aiohttp.ClientSession() as http:
        query = f"token={token('A')}"
        for path in (
            "/api/campaigns",
            "/api/campaigns/a1",
            "/api/campaigns/a1/series",
            "/api/campaigns/a1/recipients",
        ):
            async with http.get(f"{base}{path}?{query}") as resp:
                assert resp.status == 401, path
            async with http.get(f"{base}{path}", headers=bearer(token("A"))) as resp:
                assert resp.status == 200, path
        async with http.get(f"{base}/api/campaigns/a1/recipients.csv?{query}") as resp:
            assert resp.status == 200
        form = {"socket_id": "1.1", "channel_name": "private-campaign.a1"}
        async with http.post(f"{base}/broadcasting/auth?{query}", data=form) as resp:
            assert resp.status == 401
        async with http.ws_connect(f"{base}/ws?{query}") as ws:
            await ws.send_str(json.dumps({"action": "ping"}))
            assert await receive_json(ws) == {"type": "pong"}


async def test_the_access_log_holds_paths_without_query_strings(
    settings: DatabaseSettings, tmp_path: Path
) -> None:
    seed(settings)
    cfg = gateway_settings(settings)
    base = f"http://{cfg.bind_host}:{cfg.gateway_port}"
    log = tmp_path / "gateway.log"
    workspace_token = token("A")
    with log.open("wb") as sink:
        proc = gateway_logging_to(cfg, sink)
        try:
            await wait_ready(base, proc)
            async with aiohttp.ClientSession() as http:
                async with http.get(f"{base}/?token={workspace_token}") as resp:
                    assert resp.status in (200, 404)  # 404 when the dashboard is not built
                referer = {"Referer": f"{base}/?token={workspace_token}#/campaigns/a1"}
                async with http.get(f"{base}/healthz?probe=1", headers=referer) as resp:
                    assert resp.status == 200
                csv_link = f"{base}/api/campaigns/a1/recipients.csv?token={workspace_token}"
                async with http.get(csv_link) as resp:
                    assert resp.status == 200
                    await resp.read()
                async with http.ws_connect(f"{base}/ws?token={workspace_token}") as ws:
                    await ws.close()
        finally:
            proc.send_signal(signal.SIGTERM)
            await asyncio.to_thread(proc.wait, 30)
    text = log.read_text()
    assert '"GET /healthz HTTP/1.1" 200' in text and f'"{base}/"' in text
    assert '"GET /api/campaigns/a1/recipients.csv HTTP/1.1" 200' in text
    assert '"GET /ws HTTP/1.1" 101' in text
    assert workspace_token not in text and workspace_token.split(".")[1] not in text
    assert "?" not in "".join(line for line in text.splitlines() if "aiohttp.access" in line)


async def test_a_revoked_token_is_refused_and_its_sockets_closed(
    settings: DatabaseSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(settings)
    cfg = gateway_settings(settings, gateway_revocation_refresh_seconds=0.2)
    revoked, kept = token("A"), token("A")
    kid = verify_token(TOKEN_SECRET, revoked).kid
    async with running_gateway(cfg) as (_, base), aiohttp.ClientSession() as http:
        native = await http.ws_connect(f"{base}/ws?token={revoked}")
        bystander = await http.ws_connect(f"{base}/ws?token={kept}")
        pusher = await pusher_private_socket(http, base, cfg, "private-workspace.A", revoked)
        public = await http.ws_connect(f"{base}/app/{cfg.pusher_app_key}?protocol=7")

        monkeypatch.setenv("DATABASE_URL", settings.database_url)
        assert await asyncio.to_thread(tickstream, ["token", "--revoke", kid]) == 0

        assert await closed_with(native) == (4401, "token revoked")
        assert await closed_with(pusher) == (4009, "token revoked")
        async with http.get(f"{base}/api/campaigns", headers=bearer(revoked)) as resp:
            assert resp.status == 401
            assert (await resp.json())["message"] == "token revoked"
        with pytest.raises(aiohttp.WSServerHandshakeError):
            await http.ws_connect(f"{base}/ws?token={revoked}")
        async with http.get(f"{base}/api/campaigns", headers=bearer(kept)) as resp:
            assert resp.status == 200
        for ws, ping, pong in (
            (bystander, {"action": "ping"}, "pong"),
            (public, {"event": "pusher:ping", "data": {}}, "pusher:pong"),
        ):
            await ws.send_str(json.dumps(ping))
            reply = await receive_json(ws)
            while reply.get("type", reply.get("event")) != pong:  # the hello comes first
                reply = await receive_json(ws)
        for ws in (bystander, public):
            await ws.close()


async def test_sockets_close_when_their_token_expires(settings: DatabaseSettings) -> None:
    seed(settings)
    cfg = gateway_settings(settings, gateway_revocation_refresh_seconds=0.2)
    brief = issue_token(TOKEN_SECRET, "A", ttl_seconds=3)
    async with running_gateway(cfg) as (_, base), aiohttp.ClientSession() as http:
        native = await http.ws_connect(f"{base}/ws?token={brief}")
        pusher = await pusher_private_socket(http, base, cfg, "private-campaign.a1", brief)
        assert await closed_with(native) == (4401, "token expired")
        assert await closed_with(pusher) == (4009, "token expired")


def test_tokens_last_hours_by_default_and_name_their_key_id(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TOKEN_SECRET", TOKEN_SECRET)
    before = time.time()
    assert tickstream(["token", "--workspace", "7"]) == 0
    printed = capsys.readouterr()
    grant = verify_token(TOKEN_SECRET, printed.out.strip())
    assert grant.workspace == "7" and f"--revoke {grant.kid}" in printed.err
    assert int(before) + 12 * 3600 <= grant.expires <= time.time() + 12 * 3600


async def test_the_gateway_refuses_a_short_token_secret(settings: DatabaseSettings) -> None:
    short = gateway_settings(settings, token_secret="x" * 31)
    with pytest.raises(SettingsError, match="TOKEN_SECRET"):
        create_app(short)
    create_app(gateway_settings(settings, token_secret=""))  # no tokens at all is allowed
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gateway",
        env=gateway_env(short),
        cwd=ROOT,
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await proc.communicate()
    assert proc.returncode == 2
    assert b"TOKEN_SECRET is 31 bytes; use at least 32" in stderr
    assert b"Traceback" not in stderr
    assert len(TOKEN_SECRET.encode()) >= 32  # what every other gateway test runs with

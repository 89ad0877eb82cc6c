"""The Pusher protocol of the gateway, driven by the real laravel-echo + pusher-js packages (Node)
and by a raw WebSocket for the protocol details; the signed Pusher HTTP API; reconnection after
the gateway restarts."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import re
import signal
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest

from contract.settings import DatabaseSettings
from gateway.auth import pusher_api_signature
from gateway.settings import GatewaySettings
from tests.integration.gateway_support import (
    APP_SECRET,
    ROOT,
    gateway_settings,
    insert_campaign,
    make_snapshot,
    prepare_database,
    produce_snapshots,
    running_gateway,
    start_gateway_process,
    store_snapshot,
    token,
    wait_ready,
)

pytestmark = pytest.mark.integration

NODE_DIR = ROOT / "tests" / "node"
UUID_A = "c5ab3c9f-aaaa-4aaa-8aaa-000000000001"
UUID_B = "c5ab3c9f-bbbb-4bbb-8bbb-000000000002"


class NodeClient:
    """``node echo_client.mjs`` and the JSON lines it prints."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.lines: list[dict[str, Any]] = []

    async def expect(
        self, match: Callable[[dict[str, Any]], bool], within: float = 30.0
    ) -> dict[str, Any]:
        for line in self.lines:
            if match(line):
                return line
        assert self.proc.stdout is not None
        async with asyncio.timeout(within):
            while True:
                raw = await self.proc.stdout.readline()
                assert raw, f"node client exited; it printed {self.lines}"
                line = json.loads(raw)
                self.lines.append(line)
                if match(line):
                    return line


@asynccontextmanager
async def echo_client(cfg: GatewaySettings, **config: Any) -> AsyncIterator[NodeClient]:
    config = {"host": cfg.bind_host, "port": cfg.gateway_port, "key": cfg.pusher_app_key} | config
    proc = await asyncio.create_subprocess_exec(
        "node",
        str(NODE_DIR / "echo_client.mjs"),
        json.dumps(config),
        cwd=NODE_DIR,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        yield NodeClient(proc)
    finally:
        proc.kill()
        await proc.wait()


def is_refusal(channel: str, line: dict[str, Any]) -> bool:
    return bool(line["type"] == "error" and line["channel"] == channel)


def is_event(seq: int, channel: str) -> Callable[[dict[str, Any]], bool]:
    return lambda line: (
        line["type"] == "event" and line["channel"] == channel and line["data"]["seq"] == seq
    )


def seed(settings: DatabaseSettings) -> None:
    engine = prepare_database(settings.database_url)
    insert_campaign(engine, "789", "A", uuid=UUID_A)
    insert_campaign(engine, "790", "B", uuid=UUID_B)
    store_snapshot(engine, make_snapshot("789", "A", 3, uuid=UUID_A, sent=30))
    store_snapshot(engine, make_snapshot("790", "B", 3, uuid=UUID_B, sent=33))


async def test_echo_public_channel_gets_current_and_live_snapshots(
    settings: DatabaseSettings,
) -> None:
    seed(settings)
    cfg = gateway_settings(settings, public_channels=True)
    async with running_gateway(cfg), echo_client(cfg, public=[f"campaign.{UUID_A}"]) as node:
        channel = f"campaign.{UUID_A}"
        await node.expect(lambda line: line["type"] == "subscribed")
        now = await node.expect(is_event(3, channel))
        # the original app's listener reads these fields of the payload
        assert now["data"]["campaign_id"] == "789"
        assert now["data"]["statistics"]["total_sent_count"] == 30
        assert set(now["data"]["statistics"]) >= {"delivery_rate", "read_rate", "success_rate"}
        assert now["data"]["statistics"]["skipped_count"] == 10
        assert now["data"]["statistics"]["awaiting_update_count"] == 5
        produce_snapshots(settings, [make_snapshot("789", "A", 4, uuid=UUID_A, sent=40)])
        live = await node.expect(is_event(4, channel))
        assert live["data"]["statistics"]["total_sent_count"] == 40


async def test_public_channels_are_refused_unless_enabled(settings: DatabaseSettings) -> None:
    seed(settings)
    cfg = gateway_settings(settings)  # PUBLIC_CHANNELS=false
    async with running_gateway(cfg), echo_client(cfg, public=[f"campaign.{UUID_A}"]) as node:
        error = await node.expect(lambda line: line["type"] == "error")
        assert error["data"]["status"] == 403
        await asyncio.sleep(1.0)
        assert not [line for line in node.lines if line["type"] in {"event", "subscribed"}]


async def test_private_channels_with_laravel_signature_and_gateway_auth(
    settings: DatabaseSettings,
) -> None:
    seed(settings)
    cfg = gateway_settings(settings)
    async with running_gateway(cfg):
        # Laravel's /broadcasting/auth answer, signed with the shared app secret
        async with echo_client(
            cfg, private=[f"campaign.{UUID_A}"], auth="laravel", secret=APP_SECRET
        ) as good:
            await good.expect(lambda line: line["type"] == "subscribed")
            await good.expect(is_event(3, f"private-campaign.{UUID_A}"))
        async with echo_client(
            cfg, private=[f"campaign.{UUID_A}"], auth="laravel", secret="not-the-secret"
        ) as forged:
            error = await forged.expect(lambda line: line["type"] == "error")
            assert "invalid signature" in error["data"]["error"]
            await asyncio.sleep(1.0)
            assert not [line for line in forged.lines if line["type"] in {"event", "subscribed"}]
        # the gateway's own auth endpoint signs only the token's own workspace
        async with echo_client(
            cfg,
            private=[f"campaign.{UUID_A}", "workspace.A", f"campaign.{UUID_B}", "workspace.B"],
            auth="endpoint",
            token=token("A"),
        ) as mine:
            await mine.expect(is_event(3, f"private-campaign.{UUID_A}"))
            await mine.expect(is_event(3, "private-workspace.A"))
            for name in (f"private-campaign.{UUID_B}", "private-workspace.B"):
                error = await mine.expect(functools.partial(is_refusal, name))
                assert error["data"]["status"] == 403
            produce_snapshots(settings, [make_snapshot("790", "B", 9, uuid=UUID_B, sent=90)])
            produce_snapshots(settings, [make_snapshot("789", "A", 9, uuid=UUID_A, sent=90)])
            await mine.expect(is_event(9, "private-workspace.A"))
            leaked = [
                line for line in mine.lines if line.get("data", {}).get("campaign_id") == "790"
            ]
            assert not leaked


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
async def test_echo_reconnects_after_a_gateway_restart_and_is_current(
    settings: DatabaseSettings, stop: signal.Signals
) -> None:
    """SIGTERM: the gateway closes with 4200 and pusher-js reconnects at once. SIGKILL: the
    socket just dies; pusher-js retries on its own. Either way the new gateway rebuilds its
    state from the database and Kafka and the resubscribed client is current at once."""
    seed(settings)
    cfg = gateway_settings(settings, public_channels=True)
    base = f"http://{cfg.bind_host}:{cfg.gateway_port}"
    channel = f"campaign.{UUID_A}"
    first = start_gateway_process(cfg)
    second = None
    try:
        await wait_ready(base, first)
        async with echo_client(cfg, public=[channel]) as node:
            await node.expect(is_event(3, channel))
            first.send_signal(stop)
            assert await asyncio.to_thread(first.wait, 30) == (0 if stop is signal.SIGTERM else -9)
            await node.expect(
                lambda line: line["type"] == "state" and line["current"] != "connected"
            )
            # while the gateway is down the campaign moves on (the sink stores it, Kafka has it)
            newer = make_snapshot("789", "A", 5, uuid=UUID_A, sent=50)
            store_snapshot(prepare_database(settings.database_url), newer)
            produce_snapshots(settings, [newer])
            reconnects_before = len([x for x in node.lines if x.get("current") == "connected"])
            second = start_gateway_process(cfg)
            await wait_ready(base, second)
            await node.expect(is_event(5, channel), within=90)
            assert (
                len([x for x in node.lines if x.get("current") == "connected"]) > reconnects_before
            )
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()


def api_request(
    cfg: GatewaySettings, body: bytes, secret: str = APP_SECRET
) -> tuple[str, dict[str, str]]:
    path = f"/apps/{cfg.pusher_app_id}/events"
    params = {
        "auth_key": cfg.pusher_app_key,
        "auth_timestamp": str(int(time.time())),
        "auth_version": "1.0",
        "body_md5": hashlib.md5(body).hexdigest(),
    }
    params["auth_signature"] = pusher_api_signature(secret, "POST", path, params)
    return path, params


async def test_raw_protocol_details_and_http_api(settings: DatabaseSettings) -> None:
    seed(settings)
    cfg = gateway_settings(settings, public_channels=True)
    async with running_gateway(cfg) as (_, base), aiohttp.ClientSession() as http:
        async with http.ws_connect(f"{base}/app/wrong-key?protocol=7") as ws:
            msg = json.loads((await ws.receive()).data)
            assert msg["event"] == "pusher:error" and json.loads(msg["data"])["code"] == 4001
            await ws.receive()
            assert ws.close_code == 4001  # pusher-js does not reconnect on 4000–4099

        async with http.ws_connect(f"{base}/app/{cfg.pusher_app_key}?protocol=7") as ws:
            hello = json.loads((await ws.receive()).data)
            assert hello["event"] == "pusher:connection_established"
            data = json.loads(hello["data"])
            assert re.fullmatch(r"\d+\.\d+", data["socket_id"]) and data["activity_timeout"] > 0
            await ws.send_str(json.dumps({"event": "pusher:ping", "data": {}}))
            assert json.loads((await ws.receive()).data)["event"] == "pusher:pong"
            await ws.send_str("{{{")
            assert json.loads((await ws.receive()).data)["event"] == "pusher:error"
            await ws.send_str(
                json.dumps({"event": "pusher:subscribe", "data": {"channel": "news"}})
            )
            ok = json.loads((await ws.receive()).data)
            assert ok == {
                "event": "pusher_internal:subscription_succeeded",
                "channel": "news",
                "data": "{}",
            }

            body = json.dumps(
                {"name": "App\\Events\\Hello", "channels": ["news"], "data": '{"x":1}'}
            ).encode()
            path, params = api_request(cfg, body)
            async with http.post(f"{base}{path}", params=params, data=body) as resp:
                assert resp.status == 200, await resp.text()
            got = json.loads((await ws.receive(timeout=10)).data)
            assert got == {"event": "App\\Events\\Hello", "channel": "news", "data": '{"x":1}'}

            path, params = api_request(cfg, body, secret="wrong")
            async with http.post(f"{base}{path}", params=params, data=body) as resp:
                assert resp.status == 401
            path, params = api_request(cfg, body)
            async with http.post(f"{base}{path}", params=params, data=body + b" ") as resp:
                assert resp.status == 401  # body_md5 no longer matches

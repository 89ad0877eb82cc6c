"""The hub's fan-out over real loopback WebSockets: one walk per protocol writes that protocol's
frame, a client that is not keeping up gets the message through its outbox instead, the Pusher
HTTP API's ``socket_id`` is left out, and the metrics count every frame written."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from prometheus_client import generate_latest

from gateway.fanout import Hub, Message, Protocol, Subscriber, snapshot_message
from gateway.metrics import GatewayMetrics

pytestmark = pytest.mark.integration

CHANNEL = "campaign.c1"


class Clients:
    """A server whose every WebSocket joins ``CHANNEL`` in one hub, and its client sockets."""

    def __init__(self) -> None:
        self.metrics = GatewayMetrics()
        self.hub = Hub(self.metrics)
        self.subs: dict[str, Subscriber] = {}
        self.joined = asyncio.Queue[str]()

    async def handler(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(compress=False)
        await ws.prepare(request)
        name = request.query["name"]
        sub = Subscriber(
            ws, request, Protocol(request.query["protocol"]), self.metrics, 5.0, 100, name
        )
        self.subs[name] = sub
        self.hub.connect(sub)
        self.hub.subscribe(sub, CHANNEL)
        self.joined.put_nowait(name)
        try:
            async for _ in ws:
                pass
        finally:
            self.hub.disconnect(sub)
        return ws

    def metric(self, line_start: str) -> float:
        text = generate_latest(self.metrics.registry).decode()
        return sum(
            float(x.rsplit(" ", 1)[1]) for x in text.splitlines() if x.startswith(line_start)
        )


@pytest.fixture
async def clients() -> AsyncIterator[tuple[Clients, dict[str, aiohttp.ClientWebSocketResponse]]]:
    server = Clients()
    app = web.Application()
    app.router.add_get("/ws", server.handler)
    async with TestServer(app, host="127.0.0.1") as test_server, aiohttp.ClientSession() as http:
        sockets = {}
        for name, protocol in [
            ("n1", "native"),
            ("n2", "native"),
            ("p1", "pusher"),
            ("p2", "pusher"),
        ]:
            sockets[name] = await http.ws_connect(
                test_server.make_url(f"/ws?name={name}&protocol={protocol}")
            )
            assert await asyncio.wait_for(server.joined.get(), 5) == name
        yield server, sockets
        for ws in sockets.values():
            await ws.close()


async def next_frame(ws: aiohttp.ClientWebSocketResponse) -> dict[str, object]:
    frame: dict[str, object] = json.loads(await ws.receive_str(timeout=5))
    return frame


async def test_each_protocol_gets_its_frame_a_lagging_client_its_outbox_and_socket_id_is_left_out(
    clients: tuple[Clients, dict[str, aiohttp.ClientWebSocketResponse]],
) -> None:
    server, ws = clients
    assert server.hub.subscribers(CHANNEL) == 4
    # n2 has a reply waiting for its writer task: it is not keeping up, so the event must queue
    # behind the reply (in order) rather than go straight to its socket
    server.subs["n2"].reply({"type": "pong"})
    event = Message(CHANNEL, "app.event", '{"x":1}', time.time(), exclude="p1")
    assert server.hub.publish(event) == 3  # p1 sent it through the HTTP API
    await asyncio.sleep(0)
    snapshot = snapshot_message(CHANNEL, "c1", '{"seq":7}', time.time())
    assert server.hub.publish(snapshot) == 4

    assert await next_frame(ws["n1"]) == {
        "type": "event", "channel": CHANNEL, "event": "app.event", "data": '{"x":1}',
    }  # fmt: skip
    assert await next_frame(ws["n2"]) == {"type": "pong"}
    assert (await next_frame(ws["n2"]))["event"] == "app.event"
    assert await next_frame(ws["p2"]) == {
        "event": "app.event",
        "channel": CHANNEL,
        "data": '{"x":1}',
    }
    for name in ("n1", "n2"):
        assert await next_frame(ws[name]) == {
            "type": "snapshot",
            "channel": CHANNEL,
            "data": {"seq": 7},
        }
    for name in ("p1", "p2"):  # p1's first frame is the snapshot: the event never reached it
        assert await next_frame(ws[name]) == {
            "event": "campaign.statistics.updated", "channel": CHANNEL, "data": '{"seq":7}',
        }  # fmt: skip

    # 7 frames of the two messages (the reply is not a message)
    assert server.metric('gateway_messages_pushed_total{protocol="native"}') == 5
    assert server.metric('gateway_messages_pushed_total{protocol="pusher"}') == 3
    assert server.metric("gateway_push_latency_seconds_count") == 8
    assert server.metric('gateway_push_latency_seconds_bucket{le="+Inf"}') == 8


async def test_a_client_cut_before_the_walk_gets_nothing_and_stops_counting(
    clients: tuple[Clients, dict[str, aiohttp.ClientWebSocketResponse]],
) -> None:
    server, ws = clients
    server.subs["n1"].abort("gone")
    assert server.hub.publish(snapshot_message(CHANNEL, "c1", '{"seq":1}', time.time())) == 4
    for name in ("n2", "p1", "p2"):
        await next_frame(ws[name])
    message = await ws["n1"].receive(timeout=5)
    assert message.type in {aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR}
    assert server.metric("gateway_messages_pushed_total") == 3
    await asyncio.wait_for(_until_gone(server, "n1"), 5)


async def _until_gone(server: Clients, name: str) -> None:
    while server.subs[name] in server.hub.clients:
        await asyncio.sleep(0.01)
    assert server.hub.subscribers(CHANNEL) == 3

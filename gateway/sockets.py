"""The life of one WebSocket connection, shared by the native protocol and the Pusher protocol:
register with the hub, feed each text frame to the protocol's handler, always unregister."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import WSMsgType, web

from gateway.fanout import Protocol, Subscriber
from gateway.keys import HUB, METRICS, SETTINGS

log = logging.getLogger(__name__)

MAX_FRAME_BYTES = 65_536
MAX_SUBSCRIPTIONS = 100

TextHandler = Callable[[Subscriber, str], Awaitable[None]]


async def open_socket(
    request: web.Request, protocol: Protocol, socket_id: str = ""
) -> tuple[web.WebSocketResponse, Subscriber]:
    """Upgrade the request. Protocol-level pings every ``PUSHER_ACTIVITY_TIMEOUT`` seconds drop
    dead peers; no compression (it costs CPU per client, and frames are small)."""
    settings = request.app[SETTINGS]
    ws = web.WebSocketResponse(
        heartbeat=float(settings.pusher_activity_timeout),
        compress=False,
        max_msg_size=MAX_FRAME_BYTES,
    )
    await ws.prepare(request)
    sub = Subscriber(
        ws,
        request,
        protocol,
        request.app[METRICS],
        settings.gateway_send_timeout_seconds,
        settings.gateway_max_pending,
        socket_id,
    )
    return ws, sub


async def run_socket(
    request: web.Request,
    ws: web.WebSocketResponse,
    sub: Subscriber,
    on_text: TextHandler,
    on_binary: Callable[[Subscriber], None],
) -> web.WebSocketResponse:
    hub = request.app[HUB]
    hub.connect(sub)
    try:
        async for msg in ws:
            if sub.closed:
                break
            if msg.type is WSMsgType.TEXT:
                await on_text(sub, msg.data)
            elif msg.type is WSMsgType.BINARY:
                on_binary(sub)
    finally:
        hub.disconnect(sub)
    return ws

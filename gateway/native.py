"""The native WebSocket protocol on ``/ws`` (documented in docs/gateway.md).

Client → server: ``{"action": "subscribe"|"unsubscribe", "channel": "campaign.<id>"}``,
``{"action": "ping"}``. Server → client: ``subscribed``, ``unsubscribed``, ``snapshot``,
``error`` and ``pong`` frames. The token (workspace) is checked at the upgrade; each channel is
checked against it at subscribe, and the socket is closed with :data:`CLOSE_TOKEN_LAPSED` once
the token expires or is revoked (:mod:`gateway.revocation`).
"""

from __future__ import annotations

import json
import time
from typing import Any

from aiohttp import web

from contract.events import encode
from gateway.access import channel_allowed
from gateway.channels import ChannelError, Kind, parse_channel
from gateway.fanout import Protocol, Subscriber, snapshot_message
from gateway.keys import FEED, GRANTS, HUB
from gateway.rest import grant_of
from gateway.sockets import MAX_SUBSCRIPTIONS, open_socket, run_socket

# The dashboard (gateway/static/js/live.js) asks for a new token on this code.
CLOSE_TOKEN_LAPSED = 4401


def _error(sub: Subscriber, code: str, message: str, channel: str | None = None) -> None:
    frame: dict[str, Any] = {"type": "error", "code": code, "message": message}
    if channel is not None:
        frame["channel"] = channel
    sub.reply(frame)


def parse_frame(text: str) -> tuple[str, str | None]:
    """``(action, channel)`` of a client frame; ValueError with the reason if malformed."""
    try:
        frame = json.loads(text)
    except RecursionError as exc:
        raise ValueError("frame is nested too deeply") from exc
    except ValueError as exc:
        raise ValueError("frame is not JSON") from exc
    if not isinstance(frame, dict) or not isinstance(frame.get("action"), str):
        raise ValueError('frame must be an object with an "action"')
    channel = frame.get("channel")
    if channel is not None and not isinstance(channel, str):
        raise ValueError('"channel" must be a string')
    return frame["action"], channel


async def ws_handler(request: web.Request) -> web.WebSocketResponse:
    grant = grant_of(request, query_token=True)  # 401 before the upgrade
    workspace = grant.workspace
    app = request.app
    hub, feed, grants = app[HUB], app[FEED], app[GRANTS]
    ws, sub = await open_socket(request, Protocol.NATIVE)
    grants.bind(sub, grant)

    async def on_text(sub: Subscriber, text: str) -> None:
        try:
            action, name = parse_frame(text)
        except ValueError as exc:
            _error(sub, "bad_frame", str(exc))
            return
        if action == "ping":
            sub.reply({"type": "pong"})
            return
        if action not in {"subscribe", "unsubscribe"}:
            _error(sub, "unknown_action", f"unknown action {action!r}")
            return
        if not name:
            _error(sub, "bad_frame", f'{action} needs a "channel"')
            return
        if action == "unsubscribe":
            hub.unsubscribe(sub, name)
            sub.reply({"type": "unsubscribed", "channel": name})
            return
        try:
            channel = parse_channel(name)
        except ChannelError as exc:
            _error(sub, "invalid_channel", str(exc), name)
            return
        if channel.private or channel.kind is Kind.OTHER:
            _error(sub, "invalid_channel", "use campaign.<id> or workspace.<id>", name)
            return
        if len(sub.channels) >= MAX_SUBSCRIPTIONS and name not in sub.channels:
            _error(sub, "too_many_subscriptions", f"at most {MAX_SUBSCRIPTIONS} channels", name)
            return
        if not await channel_allowed(app, channel, workspace):
            code = "not_found" if channel.kind is Kind.CAMPAIGN else "forbidden"
            _error(sub, code, "not a channel of this token's workspace", name)
            return
        # From here to the last enqueue nothing awaits: no snapshot can slip in between.
        hub.subscribe(sub, name, workspace)
        sub.reply({"type": "subscribed", "channel": name})
        now = time.time()
        for snapshot in feed.current(channel, workspace):
            message = snapshot_message(name, snapshot.campaign_id, encode(snapshot).decode(), now)
            sub.enqueue(message.frame(Protocol.NATIVE), now, message.key)

    def on_binary(sub: Subscriber) -> None:
        _error(sub, "bad_frame", "binary frames are not accepted; send JSON text")

    try:
        return await run_socket(request, ws, sub, on_text, on_binary)
    finally:
        grants.forget(sub)

"""Pusher protocol 7 on ``/app/{key}``, the gateway's channel auth endpoint and the signed Pusher
HTTP API, so unchanged pusher-js / Laravel Echo clients and a Laravel app's Pusher broadcaster
work against the gateway.

Close codes follow pusher-js: 4001 (unknown app key), 4007 (unsupported protocol) and 4009 (the
token behind a private channel the gateway signed expired or was revoked) stop it from
reconnecting; 4100 (over capacity) backs off; 4200 (graceful shutdown) reconnects at once.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from typing import Any

from aiohttp import web

from contract.events import encode
from gateway.access import channel_allowed
from gateway.auth import (
    AuthError,
    check_pusher_api_request,
    check_pusher_channel_auth,
    pusher_channel_signature,
)
from gateway.capacity import OverCapacity
from gateway.channels import ChannelError, parse_channel
from gateway.fanout import UNSCOPED, Message, Protocol, Subscriber, snapshot_message
from gateway.keys import FEED, GRANTS, HUB, PUSHER_LIMITS, SETTINGS
from gateway.rest import grant_of, http_error
from gateway.sockets import MAX_SUBSCRIPTIONS, open_socket, run_socket

CLOSE_UNKNOWN_APP = 4001
CLOSE_UNSUPPORTED_PROTOCOL = 4007
CLOSE_UNAUTHORIZED = 4009
CLOSE_OVER_CAPACITY = 4100
CLOSE_RECONNECT = 4200
MIN_PROTOCOL = 5
MAX_EVENT_CHANNELS = 100
SOCKET_ID = re.compile(r"^\d+\.\d+$")


def new_socket_id() -> str:
    """``<digits>.<digits>``, the form pusher-js and Laravel's auth endpoint check."""
    return f"{secrets.randbelow(10**9)}.{secrets.randbelow(10**9)}"


def event(name: str, data: Any, channel: str | None = None) -> dict[str, Any]:
    """A server→client frame; ``data`` is sent as a JSON string, as Pusher does."""
    frame: dict[str, Any] = {"event": name, "data": json.dumps(data)}
    if channel is not None:
        frame["channel"] = channel
    return frame


def _subscription_error(sub: Subscriber, channel: str, message: str, status: int) -> None:
    """pusher-js emits this on the channel (Echo's ``.error(cb)``); the socket stays open."""
    payload = {"type": "AuthError", "error": message, "status": status}
    sub.reply(event("pusher:subscription_error", payload, channel))


def _text(value: object) -> str:
    """A client's string field, or "" for anything else (never ``str()`` of a client's nested
    JSON: rendering it recurses as deep as the client nested it)."""
    return value if isinstance(value, str) else ""


def _error(sub: Subscriber, message: str, code: int | None = None) -> None:
    sub.reply(event("pusher:error", {"code": code, "message": message}))


async def _refuse(request: web.Request, code: int, message: str) -> web.WebSocketResponse:
    ws = web.WebSocketResponse()
    await ws.prepare(request)
    await ws.send_str(json.dumps(event("pusher:error", {"code": code, "message": message})))
    await ws.close(code=code, message=message.encode())
    return ws


async def pusher_handler(request: web.Request) -> web.WebSocketResponse:
    settings = request.app[SETTINGS]
    if request.match_info["key"] != settings.pusher_app_key:
        return await _refuse(request, CLOSE_UNKNOWN_APP, "App key not in this cluster")
    try:
        version = int(request.query.get("protocol", "7"))
    except ValueError:
        version = 0
    if version < MIN_PROTOCOL:
        return await _refuse(request, CLOSE_UNSUPPORTED_PROTOCOL, "Unsupported protocol version")
    try:
        with request.app[PUSHER_LIMITS].admit(request.remote or ""):
            return await _serve(request)
    except OverCapacity as exc:
        return await _refuse(request, CLOSE_OVER_CAPACITY, str(exc))


async def _serve(request: web.Request) -> web.WebSocketResponse:
    app = request.app
    settings, hub, feed, grants = app[SETTINGS], app[HUB], app[FEED], app[GRANTS]
    socket_id = new_socket_id()
    ws, sub = await open_socket(request, Protocol.PUSHER, socket_id)
    established = {"socket_id": socket_id, "activity_timeout": settings.pusher_activity_timeout}
    sub.reply(event("pusher:connection_established", established))

    async def subscribe(sub: Subscriber, data: dict[str, Any]) -> None:
        name = data.get("channel")
        if not isinstance(name, str):
            _error(sub, "pusher:subscribe needs a channel")
            return
        try:
            channel = parse_channel(name)
        except ChannelError as exc:
            _subscription_error(sub, str(name), str(exc), 400)
            return
        scope = UNSCOPED
        if channel.private:
            try:
                check_pusher_channel_auth(
                    settings.pusher_app_key,
                    settings.pusher_app_secret,
                    socket_id,
                    name,
                    _text(data.get("auth")),
                )
            except AuthError as exc:
                _subscription_error(sub, name, str(exc), 403)
                return
            grant = grants.claim(socket_id, name)
            if grant is not None:  # the gateway signed it for a workspace token
                grants.bind(sub, grant)
                scope = grant.workspace
        elif not settings.public_channels:
            _subscription_error(sub, name, "public channels are disabled (PUBLIC_CHANNELS)", 403)
            return
        if len(sub.channels) >= MAX_SUBSCRIPTIONS and name not in sub.channels:
            _subscription_error(sub, name, f"at most {MAX_SUBSCRIPTIONS} channels", 400)
            return
        # No await from here on: the current snapshots follow the confirmation, nothing between.
        hub.subscribe(sub, name, scope)
        sub.reply(event("pusher_internal:subscription_succeeded", {}, name))
        now = time.time()
        for snapshot in feed.current(channel, scope):
            message = snapshot_message(name, snapshot.campaign_id, encode(snapshot).decode(), now)
            sub.enqueue(message.frame(Protocol.PUSHER), now, message.key)

    async def on_text(sub: Subscriber, text: str) -> None:
        try:
            frame = json.loads(text)
            name = frame["event"]
            data = frame.get("data") or {}
            if isinstance(data, str):
                data = json.loads(data)
            if not isinstance(name, str) or not isinstance(data, dict):
                raise TypeError
        except (ValueError, KeyError, TypeError, RecursionError):
            _error(sub, "malformed frame: expected {event, data}")
            return
        if name == "pusher:ping":
            sub.reply(event("pusher:pong", {}))
        elif name == "pusher:pong":
            return
        elif name == "pusher:subscribe":
            await subscribe(sub, data)
        elif name == "pusher:unsubscribe":
            hub.unsubscribe(sub, _text(data.get("channel")))
        elif name.startswith("client-"):
            _error(sub, "client events are not enabled on this server")
        else:
            _error(sub, f"unsupported event {name}")

    def on_binary(sub: Subscriber) -> None:
        _error(sub, "binary frames are not part of the Pusher protocol")

    try:
        return await run_socket(request, ws, sub, on_text, on_binary)
    finally:
        grants.forget(sub)


# --------------------------------------------------------------------------- channel auth


async def broadcasting_auth(request: web.Request) -> web.Response:
    """Sign a private channel for a pusher-js client holding a workspace token, only if the
    channel belongs to that workspace (Laravel's own ``/broadcasting/auth`` does the same with
    its own rules; either signature is accepted at subscribe). The token comes in the header only:
    pusher-js sends the headers it is given (``auth.headers``)."""
    grant = grant_of(request)
    settings = request.app[SETTINGS]
    if request.content_type == "application/json":
        try:
            raw = await request.json()
        except (ValueError, RecursionError) as exc:
            raise http_error(web.HTTPBadRequest, "bad_request", "body is not JSON") from exc
        form = {k: _text(v) for k, v in raw.items()} if isinstance(raw, dict) else {}
    else:
        try:
            posted = await request.post()
        except (ValueError, LookupError) as exc:  # a multipart without parts, a bogus charset
            raise http_error(web.HTTPBadRequest, "bad_request", "body is not a form") from exc
        form = {k: _text(v) for k, v in posted.items()}
    socket_id, name = form.get("socket_id", ""), form.get("channel_name", "")
    if not SOCKET_ID.match(socket_id):
        raise http_error(web.HTTPBadRequest, "invalid_parameter", "socket_id is not <n>.<n>")
    try:
        channel = parse_channel(name)
    except ChannelError as exc:
        raise http_error(web.HTTPBadRequest, "invalid_parameter", str(exc)) from exc
    if not channel.private:
        raise http_error(web.HTTPBadRequest, "invalid_parameter", "only private- channels")
    if not settings.pusher_app_secret:
        raise http_error(web.HTTPForbidden, "forbidden", "PUSHER_APP_SECRET is not set")
    if not await channel_allowed(request.app, channel, grant.workspace):
        raise http_error(web.HTTPForbidden, "forbidden", "not a channel of this workspace")
    auth = pusher_channel_signature(
        settings.pusher_app_key, settings.pusher_app_secret, socket_id, name
    )
    request.app[GRANTS].signed(socket_id, name, grant)
    return web.json_response({"auth": auth})


# --------------------------------------------------------------------------- HTTP API


def _api_events(body: Any, batch: bool) -> list[tuple[str, list[str], str, str]]:
    """``(name, channels, data, socket_id)`` of each event in a trigger or batch body."""
    items = body.get("batch") if batch and isinstance(body, dict) else [body]
    if not isinstance(items, list) or not items:
        raise ValueError("no events")
    out = []
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise ValueError('every event needs a "name"')
        channels = item.get("channels") or ([item["channel"]] if item.get("channel") else [])
        if not channels or not all(isinstance(c, str) for c in channels):
            raise ValueError('"channels" must be a non-empty list of names')
        if len(channels) > MAX_EVENT_CHANNELS:
            raise ValueError(f"at most {MAX_EVENT_CHANNELS} channels per event")
        data = item.get("data", "")
        text = data if isinstance(data, str) else json.dumps(data)
        out.append((item["name"], channels, text, _text(item.get("socket_id"))))
    return out


async def _api(request: web.Request, batch: bool) -> web.Response:
    settings = request.app[SETTINGS]
    if request.match_info["app_id"] != settings.pusher_app_id:
        raise http_error(web.HTTPNotFound, "not_found", "unknown app id")
    body = await request.read()
    try:
        check_pusher_api_request(
            settings.pusher_app_key,
            settings.pusher_app_secret,
            request.method,
            request.path,
            request.query,
            body,
        )
    except AuthError as exc:
        raise http_error(web.HTTPUnauthorized, "unauthorized", str(exc)) from exc
    try:
        events = _api_events(json.loads(body), batch)
    except (ValueError, RecursionError) as exc:
        raise http_error(web.HTTPBadRequest, "bad_request", str(exc)) from exc
    hub = request.app[HUB]
    now = time.time()
    for name, channels, data, socket_id in events:
        for channel in channels:
            hub.publish(Message(channel, name, data, now, exclude=socket_id))
    return web.json_response({} if not batch else {"batch": [{} for _ in events]})


async def api_events(request: web.Request) -> web.Response:
    return await _api(request, batch=False)


async def api_batch_events(request: web.Request) -> web.Response:
    return await _api(request, batch=True)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/app/{key}", pusher_handler)
    app.router.add_post("/broadcasting/auth", broadcasting_auth)
    app.router.add_post("/apps/{app_id}/events", api_events)
    app.router.add_post("/apps/{app_id}/batch_events", api_batch_events)

"""Delivery of snapshots and events to every subscribed client, where no client can slow another.

Publishing walks a channel's subscribers of each protocol once, synchronously. A client whose
socket has nothing buffered gets the frame written to its transport at once: the WebSocket frame is
encoded once per message and protocol (:func:`ws_frame`) and the same bytes go to every such
client, which is what lets one process fan a snapshot out to 10,000 sockets quickly. The walk does
nothing else per client (:meth:`Hub._write_all`): metrics are counted once per walk, from the
times of the writes. Any other client gets the message in its :class:`~gateway.outbox.Outbox`
(conflated per channel and campaign) and a writer task of its own drains it through aiohttp with
flow control. A writer that cannot hand a frame to the socket within ``send_timeout`` seconds, or
an outbox past its bound, gets the client cut.

Writing whole frames straight to the transport is safe beside aiohttp's own writer because the
gateway's sockets never compress (``compress=False``) and every write is one complete frame.

A subscription has a scope: the workspace that was checked when it was made, or
:data:`UNSCOPED` when none was (public Pusher channels, private ones the Laravel app signed).
Channel names alone are not unique across workspaces (one workspace's campaign uuid may be
another's id), so a message with a scope reaches that scope's subscribers and the unscoped ones
only.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Hashable
from enum import Enum

from aiohttp import web

from gateway.metrics import GatewayMetrics
from gateway.outbox import Outbox, Overflow

log = logging.getLogger(__name__)

SNAPSHOT_EVENT = "campaign.statistics.updated"
UNSCOPED = ""


class Protocol(Enum):
    NATIVE = "native"
    PUSHER = "pusher"


def ws_frame(text: str) -> bytes:
    """One unmasked, final WebSocket text frame (RFC 6455 §5.2), as a server sends it."""
    payload = text.encode()
    size = len(payload)
    if size < 126:
        header = bytes((0x81, size))
    elif size < 65_536:
        header = bytes((0x81, 126)) + size.to_bytes(2, "big")
    else:
        header = bytes((0x81, 127)) + size.to_bytes(8, "big")
    return header + payload


def render(protocol: Protocol, channel: str, event: str, data: str) -> str:
    """The frame of one event on one channel; ``data`` is JSON text (snapshot) or any string."""
    if protocol is Protocol.PUSHER:
        return json.dumps({"event": event, "channel": channel, "data": data})
    if event == SNAPSHOT_EVENT:
        return f'{{"type":"snapshot","channel":{json.dumps(channel)},"data":{data}}}'
    return json.dumps({"type": "event", "channel": channel, "event": event, "data": data})


class Message:
    """One event on one channel, rendered at most once per protocol however many receive it."""

    __slots__ = (
        "_frames",
        "_wire",
        "channel",
        "data",
        "event",
        "exclude",
        "key",
        "received_at",
        "scope",
    )

    def __init__(
        self,
        channel: str,
        event: str,
        data: str,
        received_at: float,
        key: Hashable | None = None,
        exclude: str = "",
        scope: str | None = None,
    ) -> None:
        self.channel = channel
        self.event = event
        self.data = data
        self.received_at = received_at
        self.key = key
        self.exclude = exclude  # Pusher socket_id that must not receive it (HTTP API socket_id)
        self.scope = scope  # the workspace it belongs to; None: every subscriber of the channel
        self._frames: dict[Protocol, str] = {}
        self._wire: dict[Protocol, bytes] = {}

    def frame(self, protocol: Protocol) -> str:
        found = self._frames.get(protocol)
        if found is None:
            found = self._frames[protocol] = render(protocol, self.channel, self.event, self.data)
        return found

    def wire(self, protocol: Protocol) -> bytes:
        """The encoded WebSocket frame, shared by every client of ``protocol``."""
        found = self._wire.get(protocol)
        if found is None:
            found = self._wire[protocol] = ws_frame(self.frame(protocol))
        return found


class Subscriber:
    """One WebSocket client: its channels, its outbox and, while it lags, its writer task.

    ``transport``, ``writer`` and ``closed`` are read by :meth:`Hub._write_all` for every client
    of every snapshot, hence plain attributes in slots.
    """

    __slots__ = (
        "_metrics",
        "_outbox",
        "_pushed",
        "_send_timeout",
        "channels",
        "closed",
        "protocol",
        "socket_id",
        "transport",
        "writer",
        "ws",
    )

    def __init__(
        self,
        ws: web.WebSocketResponse,
        request: web.Request,
        protocol: Protocol,
        metrics: GatewayMetrics,
        send_timeout: float,
        max_pending: int,
        socket_id: str = "",
    ) -> None:
        self.ws = ws
        self.protocol = protocol
        self.socket_id = socket_id
        self.channels: dict[str, str] = {}  # channel name -> scope of the subscription
        self.closed = False
        self.transport = request.transport
        self.writer: asyncio.Task[None] | None = None
        self._metrics = metrics
        self._pushed = metrics.messages_pushed.labels(protocol.value)
        self._send_timeout = send_timeout
        self._outbox = Outbox(max_pending)

    @property
    def pending(self) -> int:
        return len(self._outbox)

    def enqueue(self, frame: str, received_at: float, key: Hashable | None = None) -> None:
        if self.closed:
            return
        try:
            self._outbox.put(frame, received_at, key)
        except Overflow:
            log.warning("closing a %s client: outbox overflow", self.protocol.value)
            self.abort("overflow")
            return
        if self.writer is None:
            self.writer = asyncio.get_running_loop().create_task(self._drain())

    def reply(self, payload: dict[str, object]) -> None:
        """Queue a protocol reply (subscribed, pong, error); it keeps its order."""
        self.enqueue(json.dumps(payload), time.time())

    async def _drain(self) -> None:
        try:
            while not self.closed:
                frames = self._outbox.take()
                if not frames:
                    break
                for frame, received_at in frames:
                    async with asyncio.timeout(self._send_timeout):
                        await self.ws.send_str(frame)
                    self._pushed.inc()
                    self._metrics.push_latency.observe(time.time() - received_at)
        except TimeoutError:
            log.warning(
                "closing a %s client stuck for %ss", self.protocol.value, self._send_timeout
            )
            self.abort("stuck")
        except (ConnectionError, RuntimeError):
            self.abort("gone")
        finally:
            self.writer = None

    def abort(self, reason: str) -> None:
        """Cut a client that cannot be written to (a close frame would wait behind its backlog)."""
        if self.closed:
            return
        self.closed = True
        if reason in {"stuck", "overflow"}:
            self._metrics.clients_dropped.labels(reason).inc()
        if self.transport is not None:
            self.transport.abort()

    async def close(self, code: int, message: str) -> None:
        """Close politely (graceful shutdown), bounded by the send timeout."""
        if self.closed:
            return
        self.closed = True
        with contextlib.suppress(TimeoutError, ConnectionError, RuntimeError):
            async with asyncio.timeout(min(self._send_timeout, 2.0)):
                await self.ws.close(code=code, message=message.encode())
        if not self.ws.closed and self.transport is not None:
            self.transport.abort()


class Hub:
    """Channel name → its subscribers, across both protocols (names are shared), kept apart by
    protocol so that one walk writes one encoded frame."""

    def __init__(self, metrics: GatewayMetrics) -> None:
        self._members: dict[tuple[str, Protocol, str], dict[Subscriber, None]] = {}
        self._scopes: dict[str, dict[str, None]] = {}  # channel -> scopes with subscribers
        self._clients: dict[Subscriber, None] = {}
        self._metrics = metrics
        self._pushed = {p: metrics.messages_pushed.labels(p.value) for p in Protocol}

    @property
    def clients(self) -> list[Subscriber]:
        return list(self._clients)

    def connect(self, sub: Subscriber) -> None:
        self._clients[sub] = None
        self._metrics.connections.labels(sub.protocol.value).inc()

    def disconnect(self, sub: Subscriber) -> None:
        if sub in self._clients:
            del self._clients[sub]
            self._metrics.connections.labels(sub.protocol.value).dec()
        for channel in list(sub.channels):
            self.unsubscribe(sub, channel)

    def subscribe(self, sub: Subscriber, channel: str, scope: str = UNSCOPED) -> None:
        if channel in sub.channels:
            return
        sub.channels[channel] = scope
        self._members.setdefault((channel, sub.protocol, scope), {})[sub] = None
        self._scopes.setdefault(channel, {})[scope] = None
        self._metrics.subscriptions.labels(sub.protocol.value).inc()

    def unsubscribe(self, sub: Subscriber, channel: str) -> None:
        if channel not in sub.channels:
            return
        scope = sub.channels.pop(channel)
        slot = (channel, sub.protocol, scope)
        members = self._members.get(slot)
        if members is not None:
            members.pop(sub, None)
            if not members:
                del self._members[slot]
                if not any((channel, p, scope) in self._members for p in Protocol):
                    scopes = self._scopes[channel]
                    del scopes[scope]
                    if not scopes:
                        del self._scopes[channel]
        self._metrics.subscriptions.labels(sub.protocol.value).dec()

    def subscribers(self, channel: str) -> int:
        scopes = self._scopes.get(channel, ())
        return sum(len(self._members.get((channel, p, s), ())) for p in Protocol for s in scopes)

    def publish(self, message: Message) -> int:
        """Hand ``message`` to every subscriber of its channel in its scope (and the unscoped
        ones); the number reached."""
        held = self._scopes.get(message.channel)
        if not held:
            return 0
        scopes = (
            list(held)
            if message.scope is None
            else [s for s in dict.fromkeys((message.scope, UNSCOPED)) if s in held]
        )
        reached = 0
        for protocol in Protocol:
            # a copy: cutting a client changes the member sets later
            clients = [
                sub
                for scope in scopes
                for sub in self._members.get((message.channel, protocol, scope), ())
            ]
            if not clients:
                continue
            if message.exclude:
                clients = [sub for sub in clients if sub.socket_id != message.exclude]
            reached += len(clients)
            written_at, lagging = self._write_all(clients, message.wire(protocol))
            if written_at:
                self._pushed[protocol].inc(len(written_at))
                self._metrics.push_latency.observe_writes(message.received_at, written_at)
            if lagging:
                frame = message.frame(protocol)
                for sub in lagging:
                    sub.enqueue(frame, message.received_at, message.key)
        return reached

    @staticmethod
    def _write_all(clients: list[Subscriber], wire: bytes) -> tuple[list[float], list[Subscriber]]:
        """Write ``wire`` to every client keeping up: the time of each write, and the clients
        that are not keeping up. The per-client cost of a fan-out is this loop, so it does no
        more than the check, the write and one clock read."""
        clock = time.time
        written_at: list[float] = []
        lagging: list[Subscriber] = []
        for sub in clients:
            transport = sub.transport
            if (  # nothing of this client's waits to be written: the frame may go straight out
                sub.writer is None
                and not sub.closed
                and transport is not None
                and not transport.get_write_buffer_size()
                and not transport.is_closing()
            ):
                transport.write(wire)
                written_at.append(clock())
            else:
                lagging.append(sub)
        return written_at, lagging


def snapshot_message(
    channel: str, campaign_id: str, data: str, received_at: float, workspace_id: str | None = None
) -> Message:
    """A snapshot on a channel, conflated per channel and campaign, for the subscribers of its
    workspace (and the unscoped ones)."""
    return Message(
        channel, SNAPSHOT_EVENT, data, received_at, key=(channel, campaign_id), scope=workspace_id
    )

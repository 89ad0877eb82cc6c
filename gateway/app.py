"""The gateway's aiohttp application: REST, native WebSocket, Pusher protocol, the dashboard's
static files, health and metrics, wired to one engine, one snapshot feed and one hub."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import create_async_engine

from gateway import db, export, insights_rest, native, openapi, pusher, rest
from gateway.capacity import ConnectionLimits, ExportSlots
from gateway.fanout import Hub, Protocol
from gateway.feed import SnapshotFeed, consume
from gateway.grants import SocketGrants
from gateway.keys import (
    ENGINE,
    EXPORT_ENGINE,
    EXPORT_SLOTS,
    FEED,
    GRANTS,
    HUB,
    METRICS,
    PUSHER_LIMITS,
    READY,
    REVOKED,
    SETTINGS,
)
from gateway.metrics import GatewayMetrics
from gateway.revocation import RevokedKeys, end_lapsed_sockets
from gateway.settings import GatewaySettings, check_token_secret

log = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"
SHUTDOWN_CODES = {Protocol.NATIVE: 1012, Protocol.PUSHER: pusher.CLOSE_RECONNECT}
LAPSED_TOKEN_CODES = {
    Protocol.NATIVE: native.CLOSE_TOKEN_LAPSED,
    Protocol.PUSHER: pusher.CLOSE_UNAUTHORIZED,
}
OPENAPI = web.AppKey("openapi", dict)
T = TypeVar("T")


async def _engine(app: web.Application) -> AsyncIterator[None]:
    engine = create_async_engine(app[SETTINGS].sqlalchemy_url, pool_size=10, pool_pre_ping=True)
    app[ENGINE] = engine
    yield
    await engine.dispose()


async def _export_engine(app: web.Application) -> AsyncIterator[None]:
    """One connection per export slot, apart from the pool that serves every other read."""
    slots = app[SETTINGS].gateway_export_slots
    engine = create_async_engine(
        app[SETTINGS].sqlalchemy_url, pool_size=slots, max_overflow=0, pool_pre_ping=True
    )
    app[EXPORT_ENGINE] = engine
    yield
    await engine.dispose()


async def _revocations(app: web.Application) -> AsyncIterator[None]:
    """The revoked tokens before the first request, then reloaded, ending lapsed sockets."""
    settings, engine = app[SETTINGS], app[ENGINE]
    await _when_migrated(lambda: app[REVOKED].reload(engine), "revoked_tokens")
    task = asyncio.create_task(
        end_lapsed_sockets(
            engine,
            app[REVOKED],
            app[GRANTS],
            settings.gateway_revocation_refresh_seconds,
            LAPSED_TOKEN_CODES,
        )
    )
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _snapshots(app: web.Application) -> AsyncIterator[None]:
    """Load the database's snapshots, then follow ``campaign-stats`` from before the load."""
    settings = app[SETTINGS]
    since = time.time() - settings.gateway_snapshot_lookback_seconds
    app[FEED].load(await _when_migrated(lambda: db.load_snapshots(app[ENGINE]), "campaign_stats"))
    log.info("loaded %d campaign snapshots from the database", len(app[FEED].store))
    task = asyncio.create_task(consume(settings, app[FEED], app[METRICS], app[READY], since))
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _when_migrated(load: Callable[[], Awaitable[T]], table: str, patience: float = 60.0) -> T:
    """``load()``, waiting for a database that is still starting or being migrated (services
    started together must not depend on who comes up first)."""
    deadline = time.monotonic() + patience
    while True:
        try:
            return await load()
        except (sa_exc.ProgrammingError, sa_exc.OperationalError) as exc:
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"{table} is not readable: is DATABASE_URL right and the schema "
                    "migrated (`tickstream db upgrade`)?"
                ) from exc
            log.warning("database not ready (%s); retrying", type(exc.orig).__name__)
            await asyncio.sleep(1.0)


async def _close_clients(app: web.Application) -> None:
    """Graceful shutdown: every client gets a close code that makes it reconnect at once."""
    clients = app[HUB].clients
    await asyncio.gather(
        *(c.close(SHUTDOWN_CODES[c.protocol], "server shutting down") for c in clients)
    )


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    ready = request.app[READY].is_set()
    body = {"ready": ready, "campaigns": len(request.app[FEED].store)}
    return web.json_response(body, status=200 if ready else 503)


async def metrics(request: web.Request) -> web.Response:
    body = generate_latest(request.app[METRICS].registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def index(request: web.Request) -> web.FileResponse:
    page = STATIC / "index.html"
    if not page.is_file():
        raise web.HTTPNotFound(text="the dashboard is not built")
    return web.FileResponse(page)


async def openapi_json(request: web.Request) -> web.Response:
    return web.json_response(request.app[OPENAPI])


async def static_file(request: web.Request) -> web.FileResponse:
    """Files under ``gateway/static`` only (no ``..`` escape), 404 when missing or unnameable
    (a NUL or an unencodable character: the file system refuses even to look those up)."""
    try:
        target = (STATIC / request.match_info["path"]).resolve()
    except ValueError as exc:
        raise web.HTTPNotFound() from exc
    if STATIC.resolve() not in target.parents or not target.is_file():
        raise web.HTTPNotFound()
    return web.FileResponse(target)


def create_app(settings: GatewaySettings) -> web.Application:
    """The gateway; :class:`~contract.settings.SettingsError` for settings it must not run with."""
    check_token_secret(settings)
    app = web.Application(client_max_size=settings.max_body_bytes)
    app[SETTINGS] = settings
    app[METRICS] = GatewayMetrics()
    app[HUB] = Hub(app[METRICS])
    app[FEED] = SnapshotFeed(app[HUB], app[METRICS])
    app[READY] = asyncio.Event()
    app[REVOKED] = RevokedKeys()
    app[GRANTS] = SocketGrants()
    app[EXPORT_SLOTS] = ExportSlots(settings.gateway_export_slots)
    app[PUSHER_LIMITS] = ConnectionLimits(
        settings.pusher_max_connections, settings.pusher_max_connections_per_address
    )
    app[OPENAPI] = openapi.openapi_document(settings.window_seconds)
    app.cleanup_ctx.append(_engine)
    app.cleanup_ctx.append(_export_engine)
    app.cleanup_ctx.append(_revocations)
    app.cleanup_ctx.append(_snapshots)
    app.on_shutdown.append(_close_clients)
    rest.add_routes(app)
    insights_rest.add_routes(app)
    export.add_routes(app)
    pusher.add_routes(app)
    app.router.add_get("/ws", native.ws_handler)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/openapi.json", openapi_json)
    app.router.add_get("/", index)
    app.router.add_get("/static/{path:.+}", static_file)
    return app

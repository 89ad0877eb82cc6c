"""The gateway's aiohttp application: REST, native WebSocket, Pusher protocol, the dashboard's
static files, health and metrics, wired to one engine, one snapshot feed and one hub."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from contract.events import Snapshot
from contract.settings import Settings
from gateway import db, native, pusher, rest
from gateway.fanout import Hub, Protocol
from gateway.feed import SnapshotFeed, consume
from gateway.keys import ENGINE, FEED, HUB, METRICS, READY, SETTINGS
from gateway.metrics import GatewayMetrics

log = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"
SHUTDOWN_CODES = {Protocol.NATIVE: 1012, Protocol.PUSHER: pusher.CLOSE_RECONNECT}


async def _engine(app: web.Application) -> AsyncIterator[None]:
    engine = create_async_engine(app[SETTINGS].sqlalchemy_url, pool_size=10, pool_pre_ping=True)
    app[ENGINE] = engine
    yield
    await engine.dispose()


async def _snapshots(app: web.Application) -> AsyncIterator[None]:
    """Load the database's snapshots, then follow ``campaign-stats`` from before the load."""
    settings = app[SETTINGS]
    since = time.time() - settings.gateway_snapshot_lookback_seconds
    app[FEED].load(await _load_when_migrated(app[ENGINE]))
    log.info("loaded %d campaign snapshots from the database", len(app[FEED].store))
    task = asyncio.create_task(consume(settings, app[FEED], app[METRICS], app[READY], since))
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _load_when_migrated(engine: AsyncEngine, patience: float = 60.0) -> list[Snapshot]:
    """The stored snapshots, waiting for a database that is still starting or being migrated
    (services started together must not depend on who comes up first)."""
    deadline = time.monotonic() + patience
    while True:
        try:
            return await db.load_snapshots(engine)
        except (sa_exc.ProgrammingError, sa_exc.OperationalError) as exc:
            if time.monotonic() > deadline:
                raise RuntimeError(
                    "campaign_stats is not readable: is DATABASE_URL right and the schema "
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


async def static_file(request: web.Request) -> web.FileResponse:
    """Files under ``gateway/static`` only (no ``..`` escape), 404 when missing."""
    relative = Path(request.match_info["path"])
    target = (STATIC / relative).resolve()
    if STATIC.resolve() not in target.parents or not target.is_file():
        raise web.HTTPNotFound()
    return web.FileResponse(target)


def create_app(settings: Settings) -> web.Application:
    app = web.Application(client_max_size=settings.max_body_bytes)
    app[SETTINGS] = settings
    app[METRICS] = GatewayMetrics()
    app[HUB] = Hub(app[METRICS])
    app[FEED] = SnapshotFeed(app[HUB], app[METRICS])
    app[READY] = asyncio.Event()
    app.cleanup_ctx.append(_engine)
    app.cleanup_ctx.append(_snapshots)
    app.on_shutdown.append(_close_clients)
    rest.add_routes(app)
    pusher.add_routes(app)
    app.router.add_get("/ws", native.ws_handler)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/", index)
    app.router.add_get("/static/{path:.+}", static_file)
    return app

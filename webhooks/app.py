"""The webhook deliverer's process: the outbox writer (Kafka → PostgreSQL) and the delivery loop
(PostgreSQL → receivers) as two tasks, and a small aiohttp server for ``/metrics`` and
``/healthz``. Shutting the app down stops both; what was cut short is done again later.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Coroutine
from typing import Any

import aiohttp
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from .consumer import OutboxWriter
from .deliverer import Deliverer
from .metrics import WebhookMetrics
from .settings import WebhookSettings

SETTINGS = web.AppKey("settings", WebhookSettings)
METRICS = web.AppKey("metrics", WebhookMetrics)
ENGINE = web.AppKey("engine", AsyncEngine)
SESSION = web.AppKey("session", aiohttp.ClientSession)
WAKE = web.AppKey("wake", asyncio.Event)
WRITER = web.AppKey("writer", OutboxWriter)
DELIVERER = web.AppKey("deliverer", Deliverer)
TASKS = web.AppKey("tasks", dict[str, asyncio.Task[None]])


async def _engine(app: web.Application) -> AsyncIterator[None]:
    # a connection per lane, and one each for the writer and the loop; pre_ping: after a
    # PostgreSQL restart, pooled connections are dead
    size = app[SETTINGS].webhooks_concurrency + 2
    engine = create_async_engine(app[SETTINGS].sqlalchemy_url, pool_size=size, pool_pre_ping=True)
    app[ENGINE] = engine
    yield
    await engine.dispose()


async def _session(app: web.Application) -> AsyncIterator[None]:
    connector = aiohttp.TCPConnector(limit=app[SETTINGS].webhooks_concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        app[SESSION] = session
        yield


@contextlib.asynccontextmanager
async def _running(
    app: web.Application, name: str, loop: Coroutine[Any, Any, None]
) -> AsyncIterator[None]:
    """``loop`` as a task for as long as the app runs, cancelled when it stops."""
    task = asyncio.create_task(loop, name=name)
    app[TASKS][name] = task
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _outbox_writer(app: web.Application) -> AsyncIterator[None]:
    writer = OutboxWriter(app[SETTINGS], app[ENGINE], app[METRICS], app[WAKE])
    app[WRITER] = writer
    async with _running(app, "outbox-writer", writer.run()):
        yield


async def _delivery_loop(app: web.Application) -> AsyncIterator[None]:
    deliverer = Deliverer(app[SETTINGS], app[ENGINE], app[SESSION], app[METRICS], app[WAKE])
    app[DELIVERER] = deliverer
    async with _running(app, "delivery-loop", deliverer.run()):
        yield


async def healthz(request: web.Request) -> web.Response:
    """200 while both loops run, even while Kafka or PostgreSQL is away (a restart would not
    bring them back); 503 once a loop has died."""
    app = request.app
    dead = sorted(name for name, task in app[TASKS].items() if task.done())
    body = {
        "status": "failed" if dead else "ok",
        "stopped": dead,
        "assigned_partitions": app[WRITER].assigned,
        "lanes": len(app[DELIVERER].lanes),
        "last_error": app[WRITER].last_error or app[DELIVERER].last_error,
    }
    return web.json_response(body, status=503 if dead else 200)


async def metrics(request: web.Request) -> web.Response:
    body = generate_latest(request.app[METRICS].registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def create_app(settings: WebhookSettings) -> web.Application:
    app = web.Application()
    app[SETTINGS] = settings
    app[METRICS] = WebhookMetrics()
    app[WAKE] = asyncio.Event()
    app[TASKS] = {}
    app.cleanup_ctx.append(_engine)
    app.cleanup_ctx.append(_session)
    app.cleanup_ctx.append(_outbox_writer)
    app.cleanup_ctx.append(_delivery_loop)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    return app

"""The sink process: the consume loop in a thread, plus a small aiohttp server for ``/metrics``,
``/healthz`` and ``/readyz``. Shutting the app down (SIGTERM) stops the loop, which writes its
buffer and commits.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator

import sqlalchemy as sa
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from sink.settings import SinkSettings

from .metrics import SinkMetrics
from .service import Sink

SETTINGS = web.AppKey("settings", SinkSettings)
METRICS = web.AppKey("metrics", SinkMetrics)
ENGINE = web.AppKey("engine", sa.Engine)
SINK = web.AppKey("sink", Sink)
GROUP_ID = web.AppKey("group_id", str)


async def _engine(app: web.Application) -> AsyncIterator[None]:
    # pre_ping: after a PostgreSQL restart, pooled connections are dead; test before use.
    engine = sa.create_engine(app[SETTINGS].sqlalchemy_url, pool_size=2, pool_pre_ping=True)
    app[ENGINE] = engine
    yield
    engine.dispose()


async def _consume_loop(app: web.Application) -> AsyncIterator[None]:
    sink = Sink(app[SETTINGS], app[ENGINE], app[METRICS], group_id=app.get(GROUP_ID))
    app[SINK] = sink
    stop = threading.Event()
    thread = threading.Thread(target=sink.run, args=(stop,), name="sink-loop", daemon=True)
    thread.start()
    yield
    stop.set()
    await asyncio.to_thread(thread.join)


async def healthz(request: web.Request) -> web.Response:
    """200 while the loop runs, even when paused for a database outage (restarting the sink would
    not bring the database back); 503 once the loop has died."""
    sink = request.app[SINK]
    last_commit = (
        None if sink.last_commit is None else round(time.monotonic() - sink.last_commit, 3)
    )
    body = {
        "status": "failed" if sink.failure else "ok",
        "paused": sink.paused,
        "assigned_partitions": len(sink.assigned),
        "buffered_rows": sink.buffer.rows,
        "seconds_since_commit": last_commit,
        "last_error": str(sink.failure or sink.last_error),
    }
    return web.json_response(body, status=503 if sink.failure else 200)


async def readyz(request: web.Request) -> web.Response:
    """200 once the sink has joined its group and while it writes; 503 while paused for a
    database outage or before it joined (a rolling deploy then waits before stopping the next
    sink)."""
    sink = request.app[SINK]
    if sink.ready():
        return web.json_response({"status": "ready"})
    reason = "failed" if sink.failure else "paused" if sink.paused else "joining"
    return web.json_response({"status": reason}, status=503)


async def metrics(request: web.Request) -> web.Response:
    body = generate_latest(request.app[METRICS].registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def create_app(settings: SinkSettings, *, group_id: str | None = None) -> web.Application:
    """``group_id`` overrides the deployment's consumer group (tests replay with a fresh one)."""
    app = web.Application()
    app[SETTINGS] = settings
    app[METRICS] = SinkMetrics()
    if group_id:
        app[GROUP_ID] = group_id
    app.cleanup_ctx.append(_engine)
    app.cleanup_ctx.append(_consume_loop)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    return app

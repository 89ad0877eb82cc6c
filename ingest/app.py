"""The ingest service: ``create_app(settings)`` builds the aiohttp application."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from aiohttp import web

from contract.topics import Topics
from ingest import handlers
from ingest.batcher import Batcher
from ingest.directory import Directory
from ingest.follower import Follower
from ingest.handlers import INGEST, Ingest
from ingest.metrics import Metrics
from ingest.openapi import openapi_document
from ingest.producer import KafkaProducer, producer_config
from ingest.settings import IngestSettings

SETTINGS = web.AppKey("settings", IngestSettings)
OPENAPI = web.AppKey("openapi", dict)


def create_app(settings: IngestSettings) -> web.Application:
    app = web.Application(client_max_size=settings.max_body_bytes)
    app[SETTINGS] = settings
    app[OPENAPI] = openapi_document()
    app.cleanup_ctx.append(_kafka)
    refusing = handlers.refusing
    app.router.add_post("/v1/events", refusing(handlers.post_events))
    app.router.add_post("/v1/dispatches", refusing(handlers.post_dispatches))
    app.router.add_post("/v1/skips", refusing(handlers.post_skips))
    app.router.add_post("/v1/campaigns", refusing(handlers.post_campaigns))
    for path, handler in handlers.WEBHOOK_ROUTES.items():
        app.router.add_post(path, refusing(handler))
    app.router.add_get("/webhooks/meta", refusing(handlers.meta_verify))
    app.router.add_get("/healthz", handlers.healthz)
    app.router.add_get("/readyz", handlers.readyz)
    app.router.add_get("/metrics", handlers.metrics)
    app.router.add_get("/openapi.json", _openapi)
    return app


async def _kafka(app: web.Application) -> AsyncIterator[None]:
    """The producer (and the batcher on top of it) and the directory's follower live as long
    as the app; on shutdown what is queued is delivered before the process exits.
    """
    settings = app[SETTINGS]
    timeout = settings.produce_timeout_seconds
    producer = KafkaProducer(producer_config(settings.kafka_bootstrap, timeout))
    metrics = Metrics()
    topics = Topics.from_settings(settings)
    batcher = Batcher(
        producer,
        topics.ack_events,
        settings.topic_partitions,
        timeout,
        observe=metrics.produce_seconds.observe,
        linger=settings.ingest_linger_ms / 1000,
        count_record=metrics.record_events.observe,
        min_linger=settings.ingest_min_linger_ms / 1000,
    )
    follower = Follower(settings.kafka_bootstrap, topics, Directory())
    following = asyncio.create_task(follower.run(), name="directory")
    app[INGEST] = Ingest(settings, topics, producer, batcher, metrics, follower)
    yield
    following.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await following
    await producer.close(timeout)


async def _openapi(request: web.Request) -> web.Response:
    return web.json_response(request.app[OPENAPI])

"""Both consumers on the live path let the broker hold a fetch briefly (contract.fetching): with
Faust's 1.5 s the worker ran a second behind for whole benchmark runs."""

from __future__ import annotations

from faust.transport.drivers.aiokafka import Transport

from contract.fetching import FETCH_MAX_WAIT_MS
from gateway.feed import snapshot_consumer
from gateway.settings import GatewaySettings
from streams.faust_transport import WorkerConsumer, WorkerConsumerThread
from streams.settings import WorkerSettings
from tests.unit.worker_apps import unit_worker

SETTINGS = WorkerSettings(kafka_bootstrap="127.0.0.1:1", topic_prefix="unit-")


def test_the_wait_is_short() -> None:
    assert 0 < FETCH_MAX_WAIT_MS <= 100


async def test_the_workers_faust_consumer_uses_it() -> None:
    with unit_worker() as (app, _):
        assert isinstance(app.consumer, WorkerConsumer)
        assert isinstance(app.transport, Transport)
        thread = app.consumer._thread
        assert isinstance(thread, WorkerConsumerThread)
        consumer = thread._create_worker_consumer(app.transport)
        try:
            assert consumer._fetch_max_wait_ms == FETCH_MAX_WAIT_MS
        finally:
            await consumer.stop()


async def test_the_gateways_snapshot_consumer_uses_it() -> None:
    consumer = snapshot_consumer(GatewaySettings.carrying(SETTINGS))
    try:
        assert consumer._fetch_max_wait_ms == FETCH_MAX_WAIT_MS
    finally:
        await consumer.stop()

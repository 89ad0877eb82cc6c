"""The worker runs its own Faust consumer and producer (streams.faust_transport): the producer
hands stage 1's buffered records over before every flush Faust relies on."""

from __future__ import annotations

import faust

from contract.settings import Settings
from streams.faust_transport import WorkerConsumer, WorkerProducer
from streams.worker import create_worker


async def test_the_worker_app_uses_both() -> None:
    app = create_worker(Settings(kafka_bootstrap="127.0.0.1:1", topic_prefix="unit-"))
    assert isinstance(app.producer, WorkerProducer)
    assert isinstance(app.consumer, WorkerConsumer)


async def test_every_flush_runs_the_hook_first() -> None:
    calls: list[str] = []

    async def drain() -> None:
        calls.append("drain")

    app = faust.App("unit-transport", broker="kafka://127.0.0.1:1")
    producer = WorkerProducer(app.transport, before_flush=drain)
    await producer.flush()  # nothing started: only the hook and Faust's empty buffer
    await producer.flush()
    assert calls == ["drain", "drain"]

"""The worker runs its own Faust consumer, producer and recovery (streams.faust_transport): the
producer hands stage 1's buffered records over before every flush Faust relies on, and the
recovery leaves the active partitions' changelogs to the tables' stores."""

from __future__ import annotations

import faust
from faust.tables.manager import TableManager
from faust.types import TP

from streams.faust_transport import WorkerConsumer, WorkerProducer, WorkerRecovery
from streams.worker import ready
from tests.unit.worker_apps import unit_worker


async def test_the_worker_app_uses_both() -> None:
    with unit_worker() as (app, _):
        assert isinstance(app.producer, WorkerProducer)
        assert isinstance(app.consumer, WorkerConsumer)
        assert isinstance(app.tables, TableManager)
        assert isinstance(app.tables.recovery, WorkerRecovery)


async def test_every_flush_runs_the_hook_first() -> None:
    calls: list[str] = []

    async def drain() -> None:
        calls.append("drain")

    app = faust.App("unit-transport", broker="kafka://127.0.0.1:1")
    producer = WorkerProducer(app.transport, before_flush=drain)
    await producer.flush()  # nothing started: only the hook and Faust's empty buffer
    await producer.flush()
    assert calls == ["drain", "drain"]


async def test_faust_recovery_is_given_no_changelog_partition() -> None:
    with unit_worker() as (app, _):
        assert isinstance(app.tables, TableManager)
        recovery = app.tables.recovery
        for table in app.tables.values():
            topic = table.changelog_topic.get_topic_name()
            recovery.add_active(table, TP(topic, 0))
            recovery.add_standby(table, TP(topic, 1))
        assert not recovery.active_tps and not recovery.standby_tps
        assert not recovery.need_recovery()


async def test_ready_only_with_the_tables_read_and_no_rebalance_under_way() -> None:
    """What the worker's ``/readyz`` answers, on the worker's own Faust app."""
    with unit_worker() as (app, _):
        assert isinstance(app.tables, TableManager)
        assert not ready(app)  # no recovery finished yet
        app.tables.recovery.completed.set()
        assert ready(app)
        app.on_rebalance_start()
        assert not ready(app)
        app.rebalancing = False  # Faust clears it when the recovery after the rebalance ends
        assert ready(app)

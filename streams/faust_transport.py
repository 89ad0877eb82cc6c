"""Every use the worker makes of Faust's and aiokafka's private APIs, so that an upgrade of either
touches this file alone.

``WorkerConsumer`` closes a race of faust-streaming 0.15. Faust hands its *live* set of active
partitions to aiokafka's fetcher, which runs in Faust's consumer thread and waits up to a second
for records. When recovery ends it pauses the changelog partitions while the stream partitions are
still paused, so during that wait the set can become empty, and aiokafka reads an empty set as
"every assigned partition": it hands over the stream partitions' records and moves their positions
on, and Faust drops them because they are not active. The seek that follows restores only
partitions that have a committed offset, so a partition taken over from a worker that had not
committed it yet was skipped to its end: the survivor of a takeover said "Worker ready" and never
processed those records (docs/worker.md). Fetching from a copy taken when the fetch starts closes
it: the copy is never empty (Faust only fetches when some partition is active) and never grows
into partitions Faust will not accept.

``WorkerConsumer`` also lets the broker hold a fetch for ``contract.fetching.FETCH_MAX_WAIT_MS``
instead of Faust's fixed 1.5 s, which made the worker run a second behind for whole benchmark runs.

``WorkerRecovery`` is Faust's recovery with no changelog partition to read: Faust reads them one
record at a time (about 9,000–13,000 records/s), so the tables' stores read them themselves, many
records per write batch (``streams.state_store``). Faust's recovery still runs its sequence after
every rebalance (its "recovery done" holds at once, as nothing is left to read), and its
completion awaits the stores reading their active partitions to the end before it resumes the
streams.

``WorkerProducer`` runs a hook before every flush, so that records the worker buffers itself
(``streams.write_behind``) count as part of the producer's buffer wherever Faust relies on a flush:
before committing offsets, on rebalance, on shutdown.

The functions below reach the aiokafka producer under Faust's (the worker appends records and
prepared batches to it directly) and read consumer state for the progress line.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any, cast

import aiokafka
import faust
from faust.tables.recovery import Recovery
from faust.transport.consumer import RecordMap
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread, Consumer, Producer, Transport
from faust.types import TP
from faust.types.tables import CollectionT

from contract.fetching import FETCH_MAX_WAIT_MS


class WorkerConsumerThread(AIOKafkaConsumerThread):
    """Faust's aiokafka consumer thread, whose fetches the broker holds briefly, as a static
    member of its group when given an instance id."""

    group_instance_id: str | None = None

    def _create_worker_consumer(self, transport: Transport) -> aiokafka.AIOKafkaConsumer:
        consumer = super()._create_worker_consumer(transport)
        # Faust passes a fixed 1,500 ms and has no setting; the fetcher takes this at start.
        consumer._fetch_max_wait_ms = FETCH_MAX_WAIT_MS
        # Static membership (KIP-345), which Faust does not expose; the coordinator takes it at
        # start. A member that comes back with the same id within the session timeout gets its
        # partitions back at once instead of waiting for the group to drop its dead self.
        consumer._group_instance_id = self.group_instance_id
        return consumer


class WorkerConsumer(Consumer):
    """aiokafka's Faust consumer, fetching from the partitions active when a fetch starts, in
    fetches the broker holds briefly."""

    def __init__(self, *args: Any, group_instance_id: str | None = None, **kwargs: Any) -> None:
        self._group_instance_id = group_instance_id
        super().__init__(*args, **kwargs)

    def _new_consumer_thread(self) -> AIOKafkaConsumerThread:
        thread = WorkerConsumerThread(self, loop=self.loop, beacon=self.beacon)
        thread.group_instance_id = self._group_instance_id
        return thread

    async def _getmany(
        self,
        active_partitions: set[TP] | None,
        timeout: float,  # noqa: ASYNC109 - the signature Faust calls
    ) -> RecordMap:
        fixed = None if active_partitions is None else set(active_partitions)
        return await super()._getmany(fixed, timeout)


class WorkerRecovery(Recovery):
    """Faust's recovery, given no changelog partition: each table's store reads its own."""

    def add_active(self, table: CollectionT, tp: TP) -> None:
        """Not Faust's to read (``DiskStore.on_recovery_completed``)."""

    def add_standby(self, table: CollectionT, tp: TP) -> None:
        """Not Faust's to read (``DiskStore.on_recovery_completed``)."""


class WorkerProducer(Producer):
    """aiokafka's Faust producer, handing over the worker's own buffer first on every flush."""

    def __init__(
        self, *args: Any, before_flush: Callable[[], Awaitable[None]], **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self._before_flush = before_flush

    async def flush(self) -> None:
        await self._before_flush()
        await super().flush()


def install(
    app: faust.App, before_flush: Callable[[], Awaitable[None]], group_instance_id: str
) -> None:
    """Make ``app`` create the worker's consumer, producer and table recovery (before anything
    creates them)."""
    transport = cast(Any, app.transport)
    transport.Consumer = partial(WorkerConsumer, group_instance_id=group_instance_id)
    transport.Producer = partial(WorkerProducer, before_flush=before_flush)
    tables = cast(Any, app.tables)
    tables._recovery = WorkerRecovery(app, tables, beacon=tables.beacon, loop=tables.loop)


def kafka_producer(app: faust.App) -> aiokafka.AIOKafkaProducer:
    """The aiokafka producer inside Faust's."""
    return cast(Any, app.producer)._ensure_producer()


def recovery_complete(app: faust.App) -> bool:
    return bool(cast(Any, app.tables).recovery.completed.is_set())


def consumer_state(app: faust.App, lag_topic: str) -> str:
    """Assigned and paused partitions, as aiokafka and Faust see them, flow, and the lag of
    ``lag_topic``: what tells a stalled worker from an idle one (docs/worker.md)."""
    consumer = cast(Any, app.consumer)
    assigned = len(consumer.assignment())
    try:  # aiokafka's own consumer, inside Faust's consumer thread
        kafka = consumer._thread._ensure_consumer()
        lag = 0
        for tp in kafka.assignment():
            if tp.topic == lag_topic:
                tp_state = kafka._subscription.subscription.assignment.state_value(tp)
                if tp_state.has_valid_position and tp_state.highwater is not None:
                    lag += tp_state.highwater - tp_state.position
        return (
            f"{assigned} partitions assigned, {len(kafka.paused())} paused; "
            f"flow {'on' if consumer.flow_active else 'off'}, "
            f"{len(consumer._active_partitions or ())} active / "
            f"{len(consumer._paused_partitions)} paused / "
            f"{len(consumer._buffered_partitions)} buffered in Faust, "
            f"{lag_topic} lag {lag}"
        )
    except Exception as exc:  # diagnostics only: an internal that moved must not stop it
        return f"{assigned} partitions assigned; no consumer internals ({exc!r})"

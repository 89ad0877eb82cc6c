"""The Faust consumer and producer the worker runs: aiokafka's, with three changes.

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

``WorkerProducer`` runs a hook before every flush, so that records the worker buffers itself
(``streams.write_behind``) count as part of the producer's buffer wherever Faust relies on a flush:
before committing offsets, on rebalance, on shutdown.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import aiokafka
from faust.transport.consumer import RecordMap
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread, Consumer, Producer, Transport
from faust.types import TP

from contract.fetching import FETCH_MAX_WAIT_MS


class WorkerConsumerThread(AIOKafkaConsumerThread):
    """Faust's aiokafka consumer thread, whose fetches the broker holds briefly."""

    def _create_worker_consumer(self, transport: Transport) -> aiokafka.AIOKafkaConsumer:
        consumer = super()._create_worker_consumer(transport)
        # Faust passes a fixed 1,500 ms and has no setting; the fetcher takes this at start.
        consumer._fetch_max_wait_ms = FETCH_MAX_WAIT_MS
        return consumer


class WorkerConsumer(Consumer):
    """aiokafka's Faust consumer, fetching from the partitions active when a fetch starts, in
    fetches the broker holds briefly."""

    def _new_consumer_thread(self) -> AIOKafkaConsumerThread:
        return WorkerConsumerThread(self, loop=self.loop, beacon=self.beacon)

    async def _getmany(
        self,
        active_partitions: set[TP] | None,
        timeout: float,  # noqa: ASYNC109 - the signature Faust calls
    ) -> RecordMap:
        fixed = None if active_partitions is None else set(active_partitions)
        return await super()._getmany(fixed, timeout)


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

"""The Faust consumer the worker runs, with one race of faust-streaming 0.15 closed.

Faust hands its *live* set of active partitions to aiokafka's fetcher, which runs in Faust's
consumer thread and waits up to a second for records. When recovery ends it pauses the changelog
partitions while the stream partitions are still paused, so during that wait the set can become
empty, and aiokafka reads an empty set as "every assigned partition": it hands over the stream
partitions' records and moves their positions on, and Faust drops them because they are not
active. The seek that follows restores only partitions that have a committed offset, so a
partition taken over from a worker that had not committed it yet was skipped to its end: the
survivor of a takeover said "Worker ready" and never processed those records (docs/worker.md).

Fetching from a copy taken when the fetch starts closes it: the copy is never empty (Faust only
fetches when some partition is active) and never grows into partitions Faust will not accept.
"""

from __future__ import annotations

from faust.transport.consumer import RecordMap
from faust.transport.drivers.aiokafka import Consumer
from faust.types import TP


class SnapshotFetchConsumer(Consumer):
    """aiokafka's Faust consumer, fetching from the partitions active when a fetch starts."""

    async def _getmany(
        self,
        active_partitions: set[TP] | None,
        timeout: float,  # noqa: ASYNC109 - the signature Faust calls
    ) -> RecordMap:
        fixed = None if active_partitions is None else set(active_partitions)
        return await super()._getmany(fixed, timeout)

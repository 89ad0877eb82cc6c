"""How long the broker may hold a fetch of ours waiting for records: 50 ms, for every consumer
that feeds the live path (the worker's Faust consumer, the gateway's snapshot consumer).

aiokafka keeps one fetch in flight per broker, and leaves out of it every partition whose fetched
records the application has not taken within 100 ms. When a busy partition is left out this way,
the fetch names only quiet partitions, so the broker holds it for its whole wait, and no new
record of any busy partition can be fetched until it returns. With Faust's fixed 1.5 s wait the
worker fell into this on a loaded machine and stayed a second behind for the rest of the run:
each long fetch let work pile up, and the larger batches were again not taken within 100 ms
(docs/worker.md). A short wait bounds the cost of being left out; when idle it costs about 20
empty fetches a second per consumer.
"""

from __future__ import annotations

from typing import Any

from aiokafka import AIOKafkaClient, AIOKafkaConsumer

FETCH_MAX_WAIT_MS = 50


def groupless_reader(bootstrap: str, client_id: str, **options: Any) -> AIOKafkaConsumer:
    """A consumer outside any group that commits nothing and starts where nothing is stored at
    the earliest record: for readers that position themselves (the gateway's snapshots, ingest's
    directory, the worker's changelog restore). ``options`` are aiokafka's, per reader."""
    return AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        client_id=client_id,
        **options,
    )


async def topic_partitions(
    bootstrap: str, topics: list[str], client_id: str
) -> dict[str, set[int]]:
    """Each topic's partitions, from fresh metadata: a groupless consumer knows only the
    partitions assigned to it, so a reader asks before it assigns them (an unknown topic has
    none)."""
    client = AIOKafkaClient(bootstrap_servers=bootstrap, client_id=client_id)
    try:
        await client.bootstrap()
        cluster = await client.fetch_all_metadata()
        return {topic: set(cluster.partitions_for_topic(topic) or ()) for topic in topics}
    finally:
        await client.close()

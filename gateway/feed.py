"""The snapshot feed: the database's latest snapshots at start, then every record of
``campaign-stats``, kept per campaign (highest seq) and published to the campaign's channels.

Every gateway instance reads all partitions itself (``assign``, no consumer group, nothing
committed), so each sees every snapshot. Start position: ``offsets_for_times(t0 − lookback)``,
where ``t0`` is taken *before* the database load; a snapshot written after the load began is then
read from Kafka, one already in the database is read again and ignored by its seq.
"""

from __future__ import annotations

import asyncio
import logging
import time

from aiokafka import AIOKafkaConsumer, TopicPartition

from contract.events import DecodeError, Snapshot, decode_snapshot, encode
from contract.fetching import FETCH_MAX_WAIT_MS, groupless_reader, topic_partitions
from contract.topics import Topics
from gateway.channels import Channel, Kind, snapshot_channels
from gateway.fanout import UNSCOPED, Hub, snapshot_message
from gateway.metrics import GatewayMetrics
from gateway.settings import GatewaySettings
from gateway.store import SnapshotStore

log = logging.getLogger(__name__)


class SnapshotFeed:
    def __init__(self, hub: Hub, metrics: GatewayMetrics) -> None:
        self.store = SnapshotStore()
        self._hub = hub
        self._metrics = metrics

    def load(self, snapshots: list[Snapshot]) -> None:
        """Seed the store (nobody is connected yet, so nothing is published)."""
        for snapshot in snapshots:
            self.store.offer(snapshot)
        self._metrics.campaigns.set(len(self.store))

    def apply(self, snapshot: Snapshot, received_at: float) -> bool:
        """Keep ``snapshot`` if newer and push it to its channels; True when it was newer."""
        if not self.store.offer(snapshot):
            return False
        self._metrics.campaigns.set(len(self.store))
        data = encode(snapshot).decode()
        for channel in snapshot_channels(snapshot):
            if self._hub.subscribers(channel):
                self._hub.publish(
                    snapshot_message(
                        channel, snapshot.campaign_id, data, received_at, snapshot.workspace_id
                    )
                )
        return True

    def current(self, channel: Channel, scope: str) -> list[Snapshot]:
        """What a new subscriber of ``channel`` receives at once: what it will be sent later,
        the campaign named so in its scope's workspace, or every one so named when unscoped."""
        if channel.kind is Kind.CAMPAIGN:
            if scope == UNSCOPED:
                return self.store.named(channel.ref)
            found = self.store.get(scope, channel.ref)
            return [] if found is None else [found]
        if channel.kind is Kind.WORKSPACE and scope in (UNSCOPED, channel.ref):
            return self.store.of_workspace(channel.ref)
        return []


async def _start_positions(
    consumer: AIOKafkaConsumer,
    bootstrap: str,
    topic: str,
    since: float,
    resume: dict[TopicPartition, int],
) -> dict[TopicPartition, int]:
    """Assign every partition of ``topic`` and seek to where a previous consumer stopped
    (``resume``), else to the first record at or after ``since``; return the end offsets at that
    moment (caught up = positions reach them)."""
    while True:
        partitions = (await topic_partitions(bootstrap, [topic], "tickstream-gateway"))[topic]
        if partitions:
            break
        log.info("waiting for topic %s to exist", topic)
        await asyncio.sleep(1.0)
    tps = [TopicPartition(topic, p) for p in sorted(partitions)]
    consumer.assign(tps)
    found = await consumer.offsets_for_times({tp: int(since * 1000) for tp in tps})
    ends: dict[TopicPartition, int] = await consumer.end_offsets(tps)
    for tp in tps:
        hit = found.get(tp)
        consumer.seek(tp, resume.get(tp, hit.offset if hit is not None else ends[tp]))
    return ends


def snapshot_consumer(settings: GatewaySettings) -> AIOKafkaConsumer:
    """A consumer outside any group: every gateway reads every snapshot, positioned by hand."""
    return groupless_reader(
        settings.kafka_bootstrap, "tickstream-gateway", fetch_max_wait_ms=FETCH_MAX_WAIT_MS
    )


async def consume(
    settings: GatewaySettings,
    feed: SnapshotFeed,
    metrics: GatewayMetrics,
    ready: asyncio.Event,
    since: float,
) -> None:
    """Run until cancelled; set ``ready`` once caught up with the topic as it was at start."""
    topic = Topics.from_settings(settings).campaign_stats
    resume: dict[TopicPartition, int] = {}  # next offset per partition, kept across failures
    while True:
        consumer = snapshot_consumer(settings)
        try:
            await consumer.start()
            ends = await _start_positions(consumer, settings.kafka_bootstrap, topic, since, resume)
            await _run(consumer, feed, metrics, ready, ends, resume)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("campaign-stats consumer failed; restarting in 2 s")
            await asyncio.sleep(2.0)
        finally:
            await consumer.stop()


async def _run(
    consumer: AIOKafkaConsumer,
    feed: SnapshotFeed,
    metrics: GatewayMetrics,
    ready: asyncio.Event,
    ends: dict[TopicPartition, int],
    resume: dict[TopicPartition, int],
) -> None:
    while True:
        if not ready.is_set():
            positions = {tp: await consumer.position(tp) for tp in ends}
            if all(positions[tp] >= end for tp, end in ends.items()):
                ready.set()
                log.info("caught up with campaign-stats; %d campaigns held", len(feed.store))
        batches = await consumer.getmany(timeout_ms=200, max_records=5000)
        received_at = time.time()
        for tp, records in batches.items():
            for record in records:
                if record.value is None:
                    continue
                try:
                    snapshot = decode_snapshot(record.value)
                except DecodeError as exc:
                    metrics.snapshots_invalid.inc()
                    log.warning("skipping undecodable campaign-stats record: %s", exc)
                    continue
                metrics.snapshots_consumed.inc()
                feed.apply(snapshot, received_at)
            if records:
                resume[tp] = records[-1].offset + 1
            await asyncio.sleep(0)  # let clients' frames in between partitions' batches

"""The faust-streaming worker: its Faust app, tables on disk, agents and timers.

The work itself lives in named parts: stage 1 (``streams.stage1``: per-message state), stage 2
(``streams.stage2``: per-campaign counters, windows and snapshots), the changelog writer
(``streams.changelog_writer``), the tables' disk store (``streams.state_store``) and its changelog
reader (``streams.changelog_reader``), diagnostics (``streams.diagnostics``), and every use of
Faust's and aiokafka's private APIs (``streams.faust_transport``). This module wires them to
Faust. Why the counts stay exact across crashes: docs/exactness.md.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

import faust

from contract.topics import WORKER_TABLES, Topics
from streams import metrics
from streams.aggregates import replayed_rows
from streams.changelog_reader import ChangelogReader
from streams.changelog_writer import ChangelogWriter
from streams.dead_letters import DeadLetters
from streams.diagnostics import log_progress
from streams.faust_transport import install, kafka_producer, recovery_complete
from streams.rocks import MIB, RocksMemory
from streams.settings import WorkerSettings
from streams.stage1 import DAY_SECONDS, MessageStage
from streams.stage2 import CampaignStage
from streams.state_dir import claim_slot, member_id
from streams.state_store import disk_table


def create_worker(settings: WorkerSettings) -> faust.App:
    """The Faust app with both stages, their tables, timers and agents."""
    topics = Topics.from_settings(settings)
    partitions = settings.topic_partitions
    app = faust.App(
        topics.worker_app,
        broker=[f"kafka://{server}" for server in settings.kafka_bootstrap.split(",")],
        topic_partitions=partitions,
        web_enabled=False,
        processing_guarantee="at_least_once",
        consumer_auto_offset_reset="earliest",
        datadir=_data_dir(settings.worker_data_dir),
        stream_buffer_maxsize=4096,
        broker_commit_every=10_000,
        broker_commit_interval=1.0,
        # with one request in flight per broker, a longer linger means fewer, fuller requests
        producer_linger=0.02,
        producer_max_request_size=16 * 1024 * 1024,
        producer_max_batch_size=1024 * 1024,
        consumer_max_fetch_size=16 * 1024 * 1024,
        table_cleanup_interval=3600.0,
        # every partition's state is followed on one more worker, when there is one
        table_standby_replicas=1,
        # a killed worker's partitions move to the others after this long
        broker_session_timeout=10.0,
        broker_heartbeat_interval=1.0,
    )
    root = claim_slot(_state_base(settings.state_dir) / topics.worker_app)
    memory = RocksMemory(settings.state_memory_mb * MIB)
    messages_name, campaigns_name = WORKER_TABLES
    table_options: dict[str, Any] = {
        "root": root,
        "memory": memory,
        "partitions": partitions,
        "key_type": bytes,
        "value_type": bytes,
        "changelog": ChangelogReader(settings.kafka_bootstrap),
    }
    messages = disk_table(app, messages_name, replay=replayed_rows, **table_options)
    campaigns = disk_table(app, campaigns_name, **table_options)

    async def flush() -> None:
        await app.producer.flush()

    writer = ChangelogWriter(app)
    dead_letters = DeadLetters(writer, topics.worker_dlq)
    stage1 = MessageStage(settings, topics, messages, writer, flush, dead_letters)
    stage2 = CampaignStage(
        campaigns, writer, flush, partitions, settings.window_seconds, dead_letters
    )

    async def drain_buffers() -> None:
        await stage1.write_behind.drain()
        await stage2.write_behind.drain()

    # before anything creates them: every flush of the producer hands over both stages' buffered
    # records first, and the consumer closes the takeover race (streams.faust_transport). The
    # state slot names the group member: a worker restarted on the same disk is the same member.
    install(app, drain_buffers, group_instance_id=member_id(root))

    raw: dict[str, Any] = {"key_serializer": "raw", "value_serializer": "raw"}
    ack_topic = app.topic(topics.ack_events, partitions=partitions, **raw)
    stage2_topic = app.topic(
        topics.campaign_partials, topics.campaign_events, partitions=partitions, **raw
    )
    stats_topic = app.topic(topics.campaign_stats, partitions=partitions, **raw)
    stage1_age = metrics.RECORD_AGE.labels(stage="1")
    stage2_age = metrics.RECORD_AGE.labels(stage="2")

    def owned(topic: str) -> set[int]:
        return {tp.partition for tp in app.assignor.assigned_actives() if tp.topic == topic}

    @app.task
    async def track_output_topics() -> None:
        """Register every topic this worker writes to with the producer's metadata, once.

        aiokafka's metadata synchronizer can starve a forced refresh for up to
        ``metadata_max_age`` (5 minutes) when its topic list changes during a periodic refresh;
        the first write to a new topic then waits that long. Registering them all at start keeps
        the list fixed afterwards.
        """
        client = kafka_producer(app).client
        names = [
            topics.ack_events,
            topics.message_status,
            topics.campaign_partials,
            topics.campaign_stats,
            messages.changelog_topic.get_topic_name(),
            campaigns.changelog_topic.get_topic_name(),
        ]
        await asyncio.gather(*(client.add_topic(name) for name in names))

    @app.timer(30.0)
    async def progress() -> None:
        log_progress(app, topics.ack_events)

    @app.agent(ack_topic)
    async def track_messages(stream: faust.StreamT) -> None:
        async for event in stream.events():
            message = event.message
            stage1_age.observe(time.time() - message.timestamp)
            await stage1.process(message.partition, event.value, message.offset)

    @messages.on_recover
    async def load_partition_sums() -> None:
        stage1.on_recover(owned(topics.ack_events))

    def quiet() -> bool:
        """Stopping (the sums and unsent windows go out at the next start), or between a
        rebalance and its recovery's end: no table is written then, so the store's databases
        only ever take writes made after their partition's changelog was read to its end
        (streams.state_store)."""
        return app.should_stop or app.rebalancing

    @app.timer(min(0.1, settings.window_seconds / 5))
    async def send_partials() -> None:
        if not quiet():
            await stage1.send_partials()

    retention_days = min(settings.orphan_retention_days, settings.message_retention_days)

    @app.timer(retention_days * DAY_SECONDS / 24)
    async def expire_messages() -> None:
        if not quiet():
            await stage1.expire(owned(topics.ack_events), quiet)

    @app.agent(stage2_topic)
    async def count_campaigns(stream: faust.StreamT) -> None:
        async for event in stream.events():
            message = event.message
            stage2_age.observe(time.time() - message.timestamp)
            await stage2.process(message.topic, message.partition, message.offset, event.value)

    @campaigns.on_recover
    async def reopen_windows() -> None:
        stage2.on_recover(owned(topics.campaign_partials))

    @app.timer(min(0.05, settings.window_seconds / 10))
    async def send_snapshots() -> None:
        if not quiet():
            await stage2.send_snapshots(stats_topic, lambda: owned(topics.campaign_partials))

    return app


def ready(app: faust.App) -> bool:
    """Every owned partition's tables read to their end, no rebalance under way, not stopping:
    the worker counts what arrives now (its ``/readyz``)."""
    return recovery_complete(app) and not app.rebalancing and not app.should_stop


def _state_base(configured: str) -> Path:
    return Path(configured) if configured else Path(tempfile.gettempdir()) / "tickstream-state"


def _data_dir(configured: str) -> str:
    """Faust's own files (the tables' databases are under ``STATE_DIR``); one directory per app
    id, so several workers on one host never share one."""
    base = Path(configured) if configured else Path(tempfile.gettempdir()) / "tickstream-worker"
    base.mkdir(parents=True, exist_ok=True)
    return str(base / "{conf.name}")

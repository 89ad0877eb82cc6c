"""The faust-streaming worker: per-message state (stage 1) and per-campaign counters, windows and
snapshots (stage 2). Why the counts stay exact across crashes: docs/exactness.md.

Stage 1 (``ack-events``, keyed by message id): joins each event into the message's state in the
``messages`` table, writes the ``message-status`` of every message it touched, and keeps
per-partition campaign sums in memory (rebuilt from the table after recovery). A timer sends the
sums that changed to ``campaign-partials`` — only after flushing the producer, so a partial never
reflects a table write that a crash could still lose.

Stage 2 (``campaign-partials`` + ``campaign-events``, keyed by campaign id): keeps each campaign's
latest partial per stage-1 partition, its metadata and the changes of each open window in the
``campaigns`` table. A timer writes one snapshot per campaign and ended window to
``campaign-stats``, flushes, then records the window as emitted.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, TypeVar, cast

import faust
import msgspec
from faust.types import TableT

from contract.events import (
    Attempt,
    CampaignPartial,
    Dispatch,
    EventBatch,
    MessageEvent,
    MessageStatusBatch,
    decode_campaign_input,
    decode_event_batch,
    encode,
    skip_message_id,
)
from contract.partitioning import partition_for
from contract.settings import Settings
from contract.topics import WORKER_TABLES, Topics
from streams import metrics
from streams.aggregates import PartitionAggregates
from streams.campaign_state import (
    CampaignState,
    apply_partial,
    apply_registration,
    due_windows,
    mark_emitted,
    snapshot,
)
from streams.faust_transport import WorkerConsumer, WorkerProducer
from streams.message_state import EMPTY, MessageState, join, status_record
from streams.retention import Retired, is_retired_key, sweep
from streams.write_behind import Segment, Write, WriteBehind

log = logging.getLogger(__name__)
T = TypeVar("T")

_message_decoder = msgspec.json.Decoder(MessageState)
_campaign_decoder = msgspec.json.Decoder(CampaignState)
_retired_decoder = msgspec.json.Decoder(Retired)
DAY_SECONDS = 86_400.0
# From this many changelog records on, one prepared Kafka batch is cheaper than appending each.
PREPARED_BATCH_MIN = 64
# Stage 1 hands its buffered records over at the latest with this many (streams.write_behind).
WRITE_BEHIND_FLUSH_AT = 4_000
# Statuses or attempts per record: well under Kafka's default 1 MB record limit.
ITEMS_PER_RECORD = 1_000


def _now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class WorkerState:
    """In-memory companions of the tables: derived, rebuilt after every recovery."""

    aggregates: PartitionAggregates = field(default_factory=PartitionAggregates)
    # stage-1 partition → campaign → counters of its messages dropped after the retention period
    retired: dict[int, dict[str, Retired]] = field(default_factory=dict)
    # campaigns (stage 2) with windows whose snapshot is not written yet
    open_campaigns: set[str] = field(default_factory=set)


def create_worker(settings: Settings) -> faust.App:
    """The Faust app with both stages, their tables, timers and agents."""
    topics = Topics.from_settings(settings)
    partitions = settings.topic_partitions
    window_ms = max(1, round(settings.window_seconds * 1000))
    app = faust.App(
        topics.worker_app,
        broker=[f"kafka://{server}" for server in settings.kafka_bootstrap.split(",")],
        store="memory://",
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
        # a killed worker's partitions move to the others after this long
        broker_session_timeout=10.0,
        broker_heartbeat_interval=1.0,
    )
    state = WorkerState()
    stage1_age = metrics.RECORD_AGE.labels(stage="1")
    stage2_age = metrics.RECORD_AGE.labels(stage="2")
    raw: dict[str, Any] = {"key_serializer": "raw", "value_serializer": "raw"}
    ack_topic = app.topic(topics.ack_events, partitions=partitions, **raw)
    partial_topic = app.topic(topics.campaign_partials, partitions=partitions, **raw)
    stage2_topic = app.topic(
        topics.campaign_partials, topics.campaign_events, partitions=partitions, **raw
    )
    stats_topic = app.topic(topics.campaign_stats, partitions=partitions, **raw)
    messages_table, campaigns_table = WORKER_TABLES
    messages = app.Table(
        messages_table,
        partitions=partitions,
        key_type=bytes,
        value_type=bytes,
        recovery_buffer_size=10_000,
    )
    campaigns = app.Table(campaigns_table, partitions=partitions, key_type=bytes, value_type=bytes)

    def owned(topic: str) -> set[int]:
        return {tp.partition for tp in app.assignor.assigned_actives() if tp.topic == topic}

    def load_message(key: bytes) -> MessageState:
        stored = messages.data.get(key)
        return EMPTY if stored is None else _message_decoder.decode(stored)

    def load_campaign(key: bytes) -> CampaignState | None:
        stored = campaigns.data.get(key)
        return None if stored is None else _campaign_decoder.decode(stored)

    def check_delivery(future: asyncio.Future[Any]) -> None:
        """A changelog record Kafka refused must not be followed by an offset commit: crash, so
        the worker restarts from the last commit and writes it again."""
        if not future.cancelled() and future.exception() is not None:
            log.error("changelog write failed: %r", future.exception())
            app.add_future(app.crash(cast(BaseException, future.exception())))

    async def send_raw(topic: str, key: bytes, value: bytes | None, partition: int) -> None:
        """Append one record to the producer's open batch (Faust's own send path costs several
        times more per record); Faust's flush before each offset commit covers it."""
        producer = cast(Any, app.producer)._ensure_producer()  # the aiokafka producer
        sent = await producer.send(topic, value=value, key=key, partition=partition)
        sent.add_done_callback(check_delivery)

    async def persist(table: TableT, partition: int, items: list[Write]) -> None:
        """Set (or, for ``None``, delete) table keys and append them to the table's changelog.

        Faust's own ``table[key] = value`` sends one changelog record at a time through its
        producer buffer, which caps a worker near 5,000 writes/s. Here the records go straight to
        the aiokafka producer: many as one prepared batch, a few appended to the batch being
        filled (a prepared batch waits for the previous one of its partition to be on the wire, a
        broker round trip). Faust flushes the producer before it commits source offsets, so the
        at-least-once guarantee is unchanged: a committed offset implies a durable changelog.
        """
        apply_to_store(table, items)
        await send_changelog(table, partition, items)

    def apply_to_store(table: TableT, items: list[Write]) -> None:
        for key, value in items:
            if value is None:
                table.data.pop(key, None)
            else:
                table.data[key] = value

    async def send_changelog(
        table: TableT,
        partition: int,
        items: list[Write],
        *,
        atomic: bool = False,
    ) -> None:
        producer = cast(Any, app.producer)._ensure_producer()  # the aiokafka producer
        topic = table.changelog_topic.get_topic_name()
        if len(items) < PREPARED_BATCH_MIN and not atomic:
            for key, value in items:
                await send_raw(topic, key, value, partition)
            return
        batch = producer.create_batch()
        for key, value in items:
            if batch.append(key=key, value=value, timestamp=None) is None:
                if atomic:  # a group that must land whole (streams.retention) outgrew a batch
                    raise RuntimeError(f"{len(items)} records do not fit one Kafka batch")
                sent = await producer.send_batch(batch, topic, partition=partition)
                sent.add_done_callback(check_delivery)
                batch = producer.create_batch()
                batch.append(key=key, value=value, timestamp=None)
        sent = await producer.send_batch(batch, topic, partition=partition)
        sent.add_done_callback(check_delivery)

    async def send_segment(segment: Segment) -> None:
        for partition, items in segment.changelog.items():
            await send_changelog(messages, partition, items, atomic=segment.atomic)
        for partition, statuses in segment.statuses.items():
            for some in _chunks(statuses, ITEMS_PER_RECORD):
                value = encode(MessageStatusBatch(statuses=some))
                await send_raw(topics.message_status, some[0].message_id.encode(), value, partition)
        for target, attempts in segment.attempts.items():
            for few in _chunks(attempts, ITEMS_PER_RECORD):
                value = encode(EventBatch(events=list[MessageEvent](few)))
                await send_raw(topics.ack_events, few[0].message_id.encode(), value, target)

    write_behind = WriteBehind(send_segment, WRITE_BEHIND_FLUSH_AT)
    # before anything creates them (streams.faust_transport: the takeover race, and every flush
    # of the producer hands over stage 1's buffered records first)
    transport = cast(Any, app.transport)
    transport.Consumer = WorkerConsumer
    transport.Producer = partial(WorkerProducer, before_flush=write_behind.drain)

    @app.task
    async def track_output_topics() -> None:
        """Register every topic this worker writes to with the producer's metadata, once.

        aiokafka's metadata synchronizer can starve a forced refresh for up to
        ``metadata_max_age`` (5 minutes) when its topic list changes during a periodic refresh;
        the first write to a new topic then waits that long. Registering them all at start keeps
        the list fixed afterwards.
        """
        client = cast(Any, app.producer)._ensure_producer().client
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
    async def log_progress() -> None:
        """A line every 30 s that tells a stalled worker from an idle one (docs/worker.md)."""
        consumer = cast(Any, app.consumer)
        assigned = len(consumer.assignment())
        try:  # aiokafka's own consumer, inside Faust's consumer thread
            kafka = consumer._thread._ensure_consumer()
            paused = len(kafka.paused())
            lag = 0
            for tp in kafka.assignment():
                if tp.topic == topics.ack_events:
                    tp_state = kafka._subscription.subscription.assignment.state_value(tp)
                    if tp_state.has_valid_position and tp_state.highwater is not None:
                        lag += tp_state.highwater - tp_state.position
            flow = (
                f"flow {'on' if consumer.flow_active else 'off'}, "
                f"{len(consumer._active_partitions or ())} active / "
                f"{len(consumer._paused_partitions)} paused / "
                f"{len(consumer._buffered_partitions)} buffered in Faust, "
                f"ack-events lag {lag}"
            )
        except Exception as exc:  # diagnostics only: an internal that moved must not stop it
            paused, flow = -1, f"no consumer internals ({exc!r})"
        log.info(
            "progress: %d events joined, %d partials, %d snapshots; %d partitions assigned, "
            "%d paused, recovery %s; %s",
            metrics.EVENTS._value.get(),
            metrics.PARTIALS._value.get(),
            metrics.SNAPSHOTS._value.get(),
            assigned,
            paused,
            "complete" if cast(Any, app.tables).recovery.completed.is_set() else "running",
            flow,
        )

    # ------------------------------------------------------------------ stage 1

    @app.agent(ack_topic)
    async def track_messages(stream: faust.StreamT) -> None:
        async for event in stream.events():
            partition = event.message.partition
            stage1_age.observe(time.time() - event.message.timestamp)
            try:
                batch = decode_event_batch(event.value)
            except msgspec.DecodeError as exc:
                # ingest validated every event; a record that still fails is logged, counted and
                # skipped rather than blocking the partition forever
                metrics.BAD_RECORDS.labels(topic="ack-events").inc()
                log.error("undecodable ack-events record at %s: %s", event.message.offset, exc)
                continue
            before: dict[str, MessageState] = {}
            after: dict[str, MessageState] = {}
            for item in batch.events:
                message_id = item.message_id
                if message_id not in after:
                    before[message_id] = after[message_id] = load_message(message_id.encode())
                after[message_id] = join(after[message_id], item)
            now = datetime.now(UTC)
            statuses = []
            writes: list[Write] = []
            for message_id, new in after.items():
                old = before[message_id]
                if new != old:
                    writes.append((message_id.encode(), encode(new)))
                if new.campaign_id:
                    state.aggregates.apply(partition, old, new)
                    # written for every message touched, changed or not: a replay after a crash
                    # thereby re-sends what the crash may have lost (the sink merges duplicates)
                    statuses.append(status_record(message_id, new, now))
            apply_to_store(messages, writes)
            metrics.EVENTS.inc(len(batch.events))
            if write_behind.add(partition, writes, statuses, attempts_of(batch.events, now)):
                await write_behind.drain()

    def attempts_of(events: list[MessageEvent], now: datetime) -> dict[int, list[Attempt]]:
        """Tell each dispatched recipient's skip state that it was attempted after all.

        Sent for every dispatch seen, new or not, so a replay after a crash re-sends what the
        crash may have lost; the skip state joins them idempotently.
        """
        by_partition: dict[int, list[Attempt]] = {}
        for item in events:
            if isinstance(item, Dispatch) and item.recipient:
                skip_id = skip_message_id(item.campaign_id, item.recipient)
                attempt = Attempt(message_id=skip_id, received_at=item.received_at or now)
                by_partition.setdefault(partition_for(skip_id, partitions), []).append(attempt)
        return by_partition

    @messages.on_recover
    async def rebuild_partition_sums() -> None:
        active = owned(topics.ack_events)
        for partition in state.aggregates.partitions - active:
            state.aggregates.drop(partition)
        by_partition: dict[int, list[MessageState]] = {p: [] for p in active}
        state.retired = {p: {} for p in active}
        count = 0
        for key, value in messages.data.items():
            if is_retired_key(key):
                entry = _retired_decoder.decode(value)
                if entry.partition in active:
                    state.retired[entry.partition][entry.campaign_id] = entry
                continue
            partition = partition_for(key.decode(), partitions)
            if partition in by_partition:
                by_partition[partition].append(_message_decoder.decode(value))
                count += 1
        for partition, states in by_partition.items():
            state.aggregates.rebuild(partition, states, state.retired[partition].values())
        metrics.TRACKED_MESSAGES.set(count)
        log.info("stage 1 rebuilt sums of partitions %s from %d messages", sorted(active), count)

    @app.timer(min(0.1, settings.window_seconds / 5))
    async def send_partials() -> None:
        if app.should_stop:
            return  # shutting down: the sums are rebuilt and sent again at the next start
        await write_behind.drain()  # stage 1's records go out at least this often
        partials = state.aggregates.take_dirty()
        if not partials:
            return
        try:
            await app.producer.flush()  # the table writes behind these sums are durable now
            for partial in partials:
                await partial_topic.send(
                    key=partial.campaign_id.encode(),
                    value=encode(partial),
                    partition=partition_for(partial.campaign_id, partitions),
                )
        except Exception:
            state.aggregates.mark_dirty(partials)
            raise
        metrics.PARTIALS.inc(len(partials))

    retention_days = min(settings.orphan_retention_days, settings.message_retention_days)

    @app.timer(retention_days * DAY_SECONDS / 24)
    async def expire_messages() -> None:
        """Drop the state of messages past their retention, keeping their counts.

        One pass over the table (decoding 1,000,000 states blocks the loop for a few seconds,
        once per run of this timer); see streams.retention for why the counts stay exact.
        """
        now = time.time()
        campaign_cutoff = datetime.fromtimestamp(
            now - settings.message_retention_days * DAY_SECONDS, UTC
        )
        orphan_cutoff = datetime.fromtimestamp(
            now - settings.orphan_retention_days * DAY_SECONDS, UTC
        )
        active = owned(topics.ack_events) & set(state.retired)
        candidates: dict[int, list[tuple[bytes, MessageState]]] = {p: [] for p in active}
        for key, value in list(messages.data.items()):
            if not is_retired_key(key):
                partition = partition_for(key.decode(), partitions)
                if partition in candidates:
                    candidates[partition].append((key, _message_decoder.decode(value)))
        # Everything up to here and the store changes below run without yielding to the agent,
        # so no event can touch a message between being read and being retired.
        work: list[list[Write]] = []
        for partition, items in candidates.items():
            groups, retired = sweep(
                partition, items, state.retired[partition], campaign_cutoff, orphan_cutoff
            )
            state.retired[partition] = retired
            for group in groups:
                apply_to_store(messages, group)
                write_behind.add_atomic(partition, group)
                work.append(group)
        await write_behind.drain()
        dropped = sum(1 for group in work for _, value in group if value is None)
        if dropped:
            log.info("dropped the state of %d expired messages", dropped)

    # ------------------------------------------------------------------ stage 2

    @app.agent(stage2_topic)
    async def count_campaigns(stream: faust.StreamT) -> None:
        async for event in stream.events():
            stage2_age.observe(time.time() - event.message.timestamp)
            try:
                record = decode_campaign_input(event.value)
            except msgspec.DecodeError as exc:
                metrics.BAD_RECORDS.labels(topic=event.message.topic).inc()
                log.error("undecodable record on %s: %s", event.message.topic, exc)
                continue
            key = record.campaign_id.encode()
            current = load_campaign(key) or CampaignState(campaign_id=record.campaign_id)
            now_ms = _now_ms()
            if isinstance(record, CampaignPartial):
                updated = apply_partial(current, record, now_ms, window_ms)
            else:
                updated = apply_registration(current, record, now_ms, window_ms)
            if updated is not current:
                await persist(campaigns, event.message.partition, [(key, encode(updated))])
                state.open_campaigns.add(record.campaign_id)

    @campaigns.on_recover
    async def reopen_windows() -> None:
        active = owned(topics.campaign_partials)
        state.open_campaigns = {
            key.decode()
            for key, value in campaigns.data.items()
            if partition_for(key.decode(), partitions) in active
            and _campaign_decoder.decode(value).windows
        }
        log.info("stage 2 owns %d campaigns with open windows", len(state.open_campaigns))

    @app.timer(min(0.05, settings.window_seconds / 10))
    async def send_snapshots() -> None:
        if app.should_stop:
            return  # shutting down: unsent windows stay in the table and go out at the next start
        now_ms = _now_ms()
        now = datetime.now(UTC)
        due: list[tuple[str, int, datetime | None]] = []
        snapshots = []
        for campaign_id in sorted(state.open_campaigns):
            current = load_campaign(campaign_id.encode())
            if current is None or not current.windows:
                state.open_campaigns.discard(campaign_id)
                continue
            windows = due_windows(current, now_ms, window_ms)
            for start in windows:
                snapshots.append(snapshot(current, start, window_ms, now))
                # the next window's snapshot must know when the campaign completed, if it did
                completed = snapshots[-1].statistics.completed_at
                current = msgspec.structs.replace(current, completed_at=completed)
            if windows:
                due.append((campaign_id, windows[-1], current.completed_at))
        if not snapshots:
            return
        await app.producer.flush()  # the campaign state behind the snapshots is durable
        for item in snapshots:
            await stats_topic.send(
                key=item.campaign_id.encode(),
                value=encode(item),
                partition=partition_for(item.campaign_id, partitions),
            )
        await app.producer.flush()  # the snapshots are on the topic
        active = owned(topics.campaign_partials)
        for campaign_id, through, completed_at in due:
            partition = partition_for(campaign_id, partitions)
            current = load_campaign(campaign_id.encode())
            if current is None or partition not in active:
                continue
            value = encode(mark_emitted(current, through, completed_at))
            await persist(campaigns, partition, [(campaign_id.encode(), value)])
        sent_at = time.time()
        for item in snapshots:
            metrics.SNAPSHOT_LAG.observe(sent_at - item.window.end.timestamp())
        metrics.SNAPSHOTS.inc(len(snapshots))

    return app


def _chunks(items: list[T], size: int) -> list[list[T]]:
    return [items[start : start + size] for start in range(0, len(items), size)]


def _data_dir(configured: str) -> str:
    """Faust's own files (the memory store keeps tables in RAM, so they are few and small);
    one directory per app id, so several workers on one host never share one."""
    base = Path(configured) if configured else Path(tempfile.gettempdir()) / "tickstream-worker"
    base.mkdir(parents=True, exist_ok=True)
    return str(base / "{conf.name}")

"""``campaign-stats`` → the outbox, in the consumer group of the webhook deliverers.

The sink's batching contract (docs/sink.md): a batch of records becomes rows in ONE PostgreSQL
transaction, and only after it committed are the Kafka offsets committed. A crash between the two
replays the batch, and the outbox key (subscription, event id) makes the replay add nothing. The
group is the deliverers' own (``contract.topics``), so a slow receiver never holds back the sink
or the gateway, which read the same topic.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError
from sqlalchemy.ext.asyncio import AsyncEngine

from contract.events import DecodeError, decode_snapshot
from contract.fetching import FETCH_MAX_WAIT_MS
from contract.topics import Topics

from .events import WebhookEvent, events_of
from .metrics import WebhookMetrics
from .outbox import write_events
from .settings import WebhookSettings

log = logging.getLogger("webhooks")

RETRY_FIRST_SECONDS = 0.2
RETRY_MAX_SECONDS = 5.0


def batch_events(records: Iterable[ConsumerRecord[bytes, bytes]]) -> list[WebhookEvent]:
    """Every event of the records, in their order; a record that is no snapshot is skipped (the
    sink keeps it in its dead-letter topic)."""
    events: list[WebhookEvent] = []
    for record in records:
        try:
            snapshot = decode_snapshot(record.value)
        except DecodeError as exc:
            log.warning(
                "%s[%d]@%d is no snapshot (%s); skipped",
                record.topic,
                record.partition,
                record.offset,
                exc,
            )
            continue
        events.extend(events_of(snapshot))
    return events


class OutboxWriter:
    """The consume → write → commit loop; ``written`` is set after every batch with new rows,
    so that the deliverer of this process need not wait for its next poll."""

    def __init__(
        self,
        settings: WebhookSettings,
        engine: AsyncEngine,
        metrics: WebhookMetrics,
        written: asyncio.Event,
    ) -> None:
        self.settings = settings
        self.topics = Topics.from_settings(settings)
        self.engine = engine
        self.metrics = metrics
        self.written = written
        self.assigned = 0
        self.last_error = ""

    def consumer(self) -> AIOKafkaConsumer:
        return AIOKafkaConsumer(
            self.topics.campaign_stats,
            bootstrap_servers=self.settings.kafka_bootstrap,
            group_id=self.topics.webhooks_group,
            client_id="tickstream-webhooks",
            enable_auto_commit=False,
            # a new group reads the topic from its start; a subscription only gets events of
            # snapshots taken after it was created (webhooks/outbox.py), so this sends no past
            auto_offset_reset="earliest",
            fetch_max_wait_ms=FETCH_MAX_WAIT_MS,
        )

    async def run(self) -> None:
        """Until cancelled; a broker that is away is waited for, as is PostgreSQL."""
        wait = RETRY_FIRST_SECONDS
        while True:
            consumer = self.consumer()
            try:
                await consumer.start()
                wait = RETRY_FIRST_SECONDS
                log.info(
                    "reading %s in consumer group %s",
                    self.topics.campaign_stats,
                    self.topics.webhooks_group,
                )
                await self._consume(consumer)
            except KafkaError as exc:
                self._failed("Kafka", exc)
                await asyncio.sleep(wait)
                wait = min(wait * 2, RETRY_MAX_SECONDS)
            finally:
                self.assigned = 0
                await consumer.stop()

    async def _consume(self, consumer: AIOKafkaConsumer) -> None:
        while True:
            batch = await consumer.getmany(
                timeout_ms=1000, max_records=self.settings.webhooks_batch_records
            )
            self.assigned = len(consumer.assignment())
            if not batch:
                continue
            records = [record for partition in batch.values() for record in partition]
            self.metrics.records.inc(len(records))
            events = batch_events(records)
            created = await self._write_until_written(events)
            await self._commit(consumer, {tp: rs[-1].offset + 1 for tp, rs in batch.items()})
            self.metrics.events.inc(len(events))
            self.metrics.created.inc(created)
            if created:
                self.written.set()

    async def _write_until_written(self, events: list[WebhookEvent]) -> int:
        """PostgreSQL away: retry with backoff, the offsets uncommitted meanwhile."""
        wait = RETRY_FIRST_SECONDS
        while True:
            try:
                created = await write_events(self.engine, events)
            except Exception as exc:
                self._failed("PostgreSQL", exc)
                self.metrics.db_errors.inc()
                await asyncio.sleep(wait)
                wait = min(wait * 2, RETRY_MAX_SECONDS)
                continue
            self.last_error = ""
            return created

    async def _commit(self, consumer: AIOKafkaConsumer, offsets: dict[TopicPartition, int]) -> None:
        """A refused commit (the partitions moved to another deliverer meanwhile) only means
        that the batch is read again, and the outbox ignores it the second time."""
        try:
            await consumer.commit(offsets)
        except KafkaError as exc:
            log.warning("offset commit failed (%s); the batch will be replayed harmlessly", exc)

    def _failed(self, what: str, exc: Exception) -> None:
        self.last_error = f"{what}: {type(exc).__name__}: {exc}".splitlines()[0]
        log.warning("%s; retrying", self.last_error)

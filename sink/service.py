"""The sink's consume → write → commit loop.

Order of a batch: write every row in ONE PostgreSQL transaction, then deliver the dead letters,
then commit the Kafka offsets. A crash between any two steps replays the batch, and every write
is an idempotent merge, so a replay changes nothing: no row is lost and none is counted twice.

The loop runs in a thread of its own: confluent-kafka and the SQLAlchemy engine are blocking
clients, and the aiohttp server of ``/metrics`` and ``/healthz`` must stay responsive meanwhile.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor, wait
from datetime import UTC, datetime

import sqlalchemy as sa
from confluent_kafka import TIMESTAMP_NOT_AVAILABLE, Consumer, KafkaError, Message
from confluent_kafka import TopicPartition as KafkaPartition

from contract.logs import librdkafka_logger
from contract.topics import Topics
from sink.settings import SinkSettings

from .buffer import Buffer
from .dead_letters import DeadLetterProducer
from .metrics import SinkMetrics
from .records import Origin, classify
from .store import Written, write_transaction

log = logging.getLogger("sink")

BACKOFF_FIRST = 0.2
BACKOFF_MAX = 5.0
SHUTDOWN_FLUSH_SECONDS = 10.0
SESSION_TIMEOUT_MS = 10_000


def default_group_id(settings: SinkSettings) -> str:
    """One consumer group per deployment (``TOPIC_PREFIX``); sink instances share it."""
    return f"{settings.topic_prefix}tickstream-sink"


def _origin(message: Message) -> Origin:
    kind, millis = message.timestamp()
    timestamp = (
        None if kind == TIMESTAMP_NOT_AVAILABLE else datetime.fromtimestamp(millis / 1000, UTC)
    )
    return Origin(message.topic() or "", message.partition() or 0, message.offset() or 0, timestamp)


class Sink:
    """Consumes ``campaign-stats``, ``message-status`` and ``campaign-events`` into PostgreSQL."""

    def __init__(
        self,
        settings: SinkSettings,
        engine: sa.Engine,
        metrics: SinkMetrics | None = None,
        *,
        group_id: str | None = None,
    ) -> None:
        self.topics = Topics.from_settings(settings)
        self.engine = engine
        self.metrics = metrics or SinkMetrics()
        self.max_rows = max(1, settings.sink_batch_records)
        self.max_seconds = max(0.001, settings.sink_batch_ms / 1000)
        self.group_id = group_id or default_group_id(settings)
        self.consumer = Consumer(
            {
                "bootstrap.servers": settings.kafka_bootstrap,
                "group.id": self.group_id,
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                "client.id": "tickstream-sink",
                # A crashed sink's partitions move to a live one after this long (default 45 s).
                "session.timeout.ms": SESSION_TIMEOUT_MS,
                **librdkafka_logger(),
            }
        )
        self.dead_letters = DeadLetterProducer(settings.kafka_bootstrap, self.topics.sink_dlq)
        self.buffer = Buffer()
        # One batch at a time is written by this thread while the loop consumes the next one.
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sink-writer")
        self._in_flight: tuple[Buffer, Future[Written]] | None = None
        self.paused = False
        self.assigned: list[KafkaPartition] = []
        self.joined = False  # the group gave it its share (maybe none) at least once
        self.last_error = ""
        self.last_commit: float | None = None
        self.failure: BaseException | None = None

    def ready(self) -> bool:
        """In its group and writing: not paused for a database outage, the loop alive. A sink
        the group gave no partition (more sinks than partitions) is ready: it takes over when
        another leaves."""
        return self.joined and not self.paused and self.failure is None

    # ------------------------------------------------------------------ the loop

    def run(self, stop: threading.Event) -> None:
        """Consume until ``stop`` is set, then write what is buffered and leave the group."""
        try:
            self.consumer.subscribe(
                [
                    self.topics.campaign_stats,
                    self.topics.message_status,
                    self.topics.campaign_events,
                ],
                on_assign=self._on_assign,
                on_revoke=self._on_revoke,
                on_lost=self._on_lost,
            )
            while not stop.is_set():
                in_flight = self._in_flight
                # a full buffer waits for the write in flight (backpressure); a failed write is
                # retried, with everything consumed since, until PostgreSQL takes it
                landing = in_flight and (in_flight[1].done() or self.buffer.rows >= self.max_rows)
                if landing and not self._finish_in_flight():
                    self._flush_until_written(stop)
                if self.buffer.rows < self.max_rows:
                    self._consume(0.05)
                if self._in_flight is None and self.buffer.due(
                    time.monotonic(), self.max_rows, self.max_seconds
                ):
                    self._launch()
            self._shutdown()
        except BaseException as exc:
            self.failure = exc
            log.exception("sink loop stopped")
            raise

    def _consume(self, timeout: float) -> None:
        # at most as many records as the batch has rows left (a record may hold many rows)
        wanted = min(max(1, self.max_rows - self.buffer.rows), 10_000)
        messages = self.consumer.consume(num_messages=wanted, timeout=timeout)
        now = time.monotonic()
        counted: dict[str, int] = {}
        for message in messages:
            error = message.error()
            if error is not None:
                if error.code() != KafkaError._PARTITION_EOF:
                    log.warning("consumer error: %s", error)
                continue
            origin = _origin(message)
            counted[origin.topic] = counted.get(origin.topic, 0) + 1
            self.buffer.add(classify(self.topics, origin, message.key(), message.value()), now)
        for topic, count in counted.items():
            self.metrics.records.labels(topic).inc(count)
        self.metrics.buffered_rows.set(self.buffer.rows)

    def _launch(self) -> None:
        batch, self.buffer = self.buffer, Buffer()
        self._in_flight = (batch, self._writer.submit(write_transaction, self.engine, batch.items))

    def _finish_in_flight(self) -> bool:
        """Wait for the write in flight, then deliver its dead letters and commit its offsets.

        False if it failed: its batch is then back at the front of the buffer, to be retried
        together with everything consumed since, in log order, so no offset passes it. Every
        path finishes the write this way: the loop, a revocation and the shutdown.
        """
        if self._in_flight is None:
            return True
        batch, future = self._in_flight
        self._in_flight = None
        try:
            self._complete(batch, future.result())
        except Exception as exc:
            self._failed(exc)
            self.buffer = batch.then(self.buffer)
            return False
        return True

    def _failed(self, exc: Exception) -> None:
        self.metrics.db_errors.inc()
        self.last_error = f"{type(exc).__name__}: {exc}".splitlines()[0]
        log.warning("batch not written (%s); it will be retried", self.last_error)

    def _flush_until_written(self, stop: threading.Event, deadline: float | None = None) -> bool:
        """Write the buffer, retrying with backoff while PostgreSQL is away.

        Meanwhile consumption is paused but ``consume`` is still called, so the group keeps
        this member and its partitions (a rebalance meanwhile drops the buffer: see _on_revoke).
        """
        backoff = BACKOFF_FIRST
        while True:
            try:
                self._flush()
            except Exception as exc:
                self._failed(exc)
                self._pause()
                until = time.monotonic() + backoff
                if deadline is not None and until > deadline:
                    return False
                while time.monotonic() < until and not (stop.is_set() and deadline is None):
                    self._consume(min(0.1, max(0.0, until - time.monotonic())))
                if stop.is_set() and deadline is None:
                    return False
                backoff = min(backoff * 2, BACKOFF_MAX)
                continue
            self._resume()
            return True

    def _flush(self) -> None:
        """Write, deliver dead letters, commit offsets; the buffer is cleared only then."""
        if not self.buffer.empty():
            self._complete(self.buffer, write_transaction(self.engine, self.buffer.items))
        self.buffer = Buffer()
        self.metrics.buffered_rows.set(0)

    def _complete(self, batch: Buffer, written: Written) -> None:
        """After the batch's transaction committed: dead letters, then the offsets."""
        dead_letters = [*batch.dead_letters, *written.refused]
        self.dead_letters.deliver(dead_letters)
        committed = self._commit(batch.next_offsets)
        for table, count in written.rows.items():
            self.metrics.rows.labels(table).inc(count)
        self.metrics.dead_letters.inc(len(dead_letters))
        if committed:
            self.metrics.committed.inc(len(batch.items) + len(batch.dead_letters))
        self.metrics.batches.inc()
        if batch.since is not None:
            self.metrics.batch_seconds.observe(time.monotonic() - batch.since)
        self.last_error = ""

    def _commit(self, next_offsets: dict[tuple[str, int], int]) -> bool:
        """Commit the offsets; False when Kafka refused (the rows are safely written, so an
        uncommitted offset only means a harmless replay)."""
        offsets = [KafkaPartition(t, p, o) for (t, p), o in sorted(next_offsets.items())]
        try:
            results = self.consumer.commit(offsets=offsets, asynchronous=False) or []
        except Exception as exc:
            log.warning("offset commit failed (%s); the batch will be replayed harmlessly", exc)
            return False
        failed = [tp for tp in results if tp.error is not None]
        if failed:
            log.warning("offset commit failed for %s; replay is harmless", failed)
            return False
        self.last_commit = time.monotonic()
        return True

    def _pause(self) -> None:
        if not self.paused and self.assigned:
            self.consumer.pause(self.assigned)
        self.paused = True
        self.metrics.paused.set(1)

    def _resume(self) -> None:
        if self.paused and self.assigned:
            self.consumer.resume(self.assigned)
        self.paused = False
        self.metrics.paused.set(0)

    def _shutdown(self) -> None:
        deadline = time.monotonic() + SHUTDOWN_FLUSH_SECONDS
        self._finish_in_flight()
        if not self.buffer.empty() and not self._flush_until_written(threading.Event(), deadline):
            log.warning("shutting down with an unwritten batch; it will be consumed again")
        self._writer.shutdown()
        self.consumer.close()
        self.dead_letters.close()

    # ------------------------------------------------------------------ rebalances

    def _on_assign(self, consumer: Consumer, partitions: list[KafkaPartition]) -> None:
        log.info("assigned %s", [(tp.topic, tp.partition) for tp in partitions])
        self.assigned = list(partitions)
        self.joined = True
        self.paused = False
        self.metrics.paused.set(0)

    def _on_revoke(self, consumer: Consumer, partitions: list[KafkaPartition]) -> None:
        """Write what is buffered before the partitions go; if that fails, drop it: the next
        owner starts at the committed offsets and reads those records again."""
        self._finish_in_flight()
        try:
            self._flush()
        except Exception as exc:
            # Nothing is committed past the failure: it is all read again from the offsets.
            log.warning("revoked with an unwritten batch (%s); it will be consumed again", exc)
            self.buffer = Buffer()
        self.assigned = []

    def _on_lost(self, consumer: Consumer, partitions: list[KafkaPartition]) -> None:
        log.warning("partitions lost; dropping the unwritten batch, it will be consumed again")
        if self._in_flight is not None:
            wait([self._in_flight[1]])  # let it end; its offsets are not committed
            self._in_flight = None
        self.buffer = Buffer()
        self.assigned = []

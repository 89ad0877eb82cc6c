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
from dataclasses import dataclass, field
from datetime import UTC, datetime

import sqlalchemy as sa
from confluent_kafka import TIMESTAMP_NOT_AVAILABLE, Consumer, KafkaError, Message, Producer
from confluent_kafka import TopicPartition as KafkaPartition

from contract.events import encode
from contract.settings import Settings
from contract.topics import Topics

from .metrics import SinkMetrics
from .records import DeadLetter, Item, Origin, classify
from .store import Written, write_batch

log = logging.getLogger("sink")

BACKOFF_FIRST = 0.2
BACKOFF_MAX = 5.0
SHUTDOWN_FLUSH_SECONDS = 10.0
DLQ_FLUSH_SECONDS = 10.0
SESSION_TIMEOUT_MS = 10_000


def default_group_id(settings: Settings) -> str:
    """One consumer group per deployment (``TOPIC_PREFIX``); sink instances share it."""
    return f"{settings.topic_prefix}tickstream-sink"


class DeadLetterUndelivered(RuntimeError):
    """The dead-letter topic did not acknowledge every record; the batch is retried."""


def _is_poison(exc: BaseException) -> bool:
    """A write error that no retry can cure (the data itself), unlike a lost connection."""
    return isinstance(exc, sa.exc.DataError | sa.exc.IntegrityError)


@dataclass(slots=True)
class Buffer:
    """Records consumed but not yet written, and the offsets to commit once they are."""

    items: list[Item] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    next_offsets: dict[tuple[str, int], int] = field(default_factory=dict)
    rows: int = 0
    since: float | None = None

    def add(self, entry: Item | DeadLetter, now: float) -> None:
        if isinstance(entry, Item):
            self.items.append(entry)
            self.rows += entry.rows
        else:
            self.dead_letters.append(entry)
            self.rows += 1
        origin = entry.origin
        self.next_offsets[(origin.topic, origin.partition)] = origin.offset + 1
        if self.since is None:
            self.since = now

    def due(self, now: float, max_rows: int, max_seconds: float) -> bool:
        return self.since is not None and (self.rows >= max_rows or now - self.since >= max_seconds)

    def empty(self) -> bool:
        return self.since is None

    def then(self, later: Buffer) -> Buffer:
        """This batch followed by ``later``: one batch again (a failed write is retried with
        what was consumed meanwhile, so offsets are never committed past an unwritten row)."""
        return Buffer(
            items=[*self.items, *later.items],
            dead_letters=[*self.dead_letters, *later.dead_letters],
            next_offsets={**self.next_offsets, **later.next_offsets},
            rows=self.rows + later.rows,
            since=self.since if self.since is not None else later.since,
        )


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
        settings: Settings,
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
            }
        )
        self._bootstrap = settings.kafka_bootstrap
        self._producer: Producer | None = None  # created at the first dead letter
        self.buffer = Buffer()
        # One batch at a time is written by this thread while the loop consumes the next one.
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sink-writer")
        self._in_flight: tuple[Buffer, Future[Written]] | None = None
        self.paused = False
        self.assigned: list[KafkaPartition] = []
        self.last_error = ""
        self.last_commit: float | None = None
        self.failure: BaseException | None = None
        self._undelivered = 0

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
                # a full buffer waits for the write in flight (backpressure)
                if in_flight and (in_flight[1].done() or self.buffer.rows >= self.max_rows):
                    self._land(stop)
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
        self._in_flight = (batch, self._writer.submit(self._write, batch.items))

    def _land(self, stop: threading.Event) -> None:
        """Finish the write in flight: commit its offsets, or retry it (with everything consumed
        since, in order) until PostgreSQL takes it."""
        assert self._in_flight is not None
        batch, future = self._in_flight
        self._in_flight = None
        try:
            self._complete(batch, future.result())
        except Exception as exc:
            self._failed(exc)
            self.buffer = batch.then(self.buffer)
            self._flush_until_written(stop)

    def _failed(self, exc: Exception) -> None:
        self.metrics.db_errors.inc()
        self.last_error = f"{type(exc).__name__}: {exc}".splitlines()[0]
        log.warning("batch not written (%s); retrying with backoff", self.last_error)

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
            self._complete(self.buffer, self._write(self.buffer.items))
        self.buffer = Buffer()
        self.metrics.buffered_rows.set(0)

    def _complete(self, batch: Buffer, written: Written) -> None:
        """After the batch's transaction committed: dead letters, then the offsets."""
        dead_letters = [*batch.dead_letters, *written.refused]
        self._deliver(dead_letters)
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

    def _write(self, items: list[Item]) -> Written:
        try:
            with self.engine.begin() as conn:
                return write_batch(conn, items)
        except Exception as exc:
            if not _is_poison(exc):
                raise
            log.warning("PostgreSQL refused a batch (%s); writing its records one by one", exc)
        # Some record holds a value PostgreSQL refuses: find it, dead-letter it, write the rest.
        written = Written()
        for item in items:
            try:
                with self.engine.begin() as conn:
                    one = write_batch(conn, [item])
            except Exception as exc:
                if not _is_poison(exc):
                    raise
                reason = f"PostgreSQL refused the record: {exc}".splitlines()[0]
                written.refused.append(DeadLetter(item.origin, reason, None, encode(item.payload)))
                continue
            written.refused.extend(one.refused)
            for table, count in one.rows.items():
                written.rows[table] = written.rows.get(table, 0) + count
        return written

    def _deliver(self, dead_letters: list[DeadLetter]) -> None:
        if not dead_letters:
            return
        self._undelivered = 0
        for letter in dead_letters:
            log.warning(
                "dead letter %s[%d]@%d: %s",
                letter.origin.topic,
                letter.origin.partition,
                letter.origin.offset,
                letter.reason,
            )
            self.producer().produce(
                self.topics.sink_dlq, value=letter.encode(), key=letter.key, on_delivery=self._sent
            )
        remaining = self.producer().flush(DLQ_FLUSH_SECONDS)
        if remaining or self._undelivered:
            raise DeadLetterUndelivered(
                f"{remaining + self._undelivered} dead letters not acknowledged by Kafka"
            )

    def producer(self) -> Producer:
        """The dead-letter producer; most sinks never need one."""
        if self._producer is None:
            self._producer = Producer(
                {
                    "bootstrap.servers": self._bootstrap,
                    "enable.idempotence": True,
                    "acks": "all",
                    "client.id": "tickstream-sink-dlq",
                }
            )
        return self._producer

    def _sent(self, error: KafkaError | None, _message: Message) -> None:
        if error is not None:
            self._undelivered += 1

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
        if self._in_flight is not None:
            batch, future = self._in_flight
            self._in_flight = None
            try:
                self._complete(batch, future.result())
            except Exception as exc:
                self._failed(exc)
                self.buffer = batch.then(self.buffer)
        if not self.buffer.empty() and not self._flush_until_written(threading.Event(), deadline):
            log.warning("shutting down with an unwritten batch; it will be consumed again")
        self._writer.shutdown()
        self.consumer.close()
        if self._producer is not None:
            self._producer.flush(DLQ_FLUSH_SECONDS)

    # ------------------------------------------------------------------ rebalances

    def _on_assign(self, consumer: Consumer, partitions: list[KafkaPartition]) -> None:
        log.info("assigned %s", [(tp.topic, tp.partition) for tp in partitions])
        self.assigned = list(partitions)
        self.paused = False
        self.metrics.paused.set(0)

    def _on_revoke(self, consumer: Consumer, partitions: list[KafkaPartition]) -> None:
        """Write what is buffered before the partitions go; if that fails, drop it: the next
        owner starts at the committed offsets and reads those records again."""
        try:
            if self._in_flight is not None:
                batch, future = self._in_flight
                self._in_flight = None
                self._complete(batch, future.result())
            self._flush()
        except Exception as exc:
            # Neither batch is committed past the failure: both are read again from the offsets.
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

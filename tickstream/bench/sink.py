"""Sink benchmark: message-status rows/s and snapshots/s from Kafka into the local PostgreSQL.

    .venv/bin/python -m tickstream.bench.sink [--messages 100000] [--snapshots 20000]

Uses ``KAFKA_BOOTSTRAP`` / ``DATABASE_URL`` when set (a fresh database is created beside the
given one and dropped afterwards), else starts a private broker and cluster and stops them.
Two figures per workload: the write path alone (batches handed to ``write_batch``, no Kafka), and
end to end (records pre-produced, then the real ``Sink`` loop consumes, writes, commits offsets;
timed from the first record consumed until every record is written and its offset committed).
Everything stays on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from confluent_kafka import Producer

from contract.admin import create_topics
from contract.events import MessageStatus, MessageStatusBatch, Snapshot, Statistics, WindowCounts
from contract.events import encode as encode_record
from contract.status import effective_status
from contract.topics import Topics
from sink.migrate import upgrade
from sink.records import Item, Origin
from sink.service import Sink
from sink.settings import SinkSettings
from sink.store import write_batch
from tickstream.bench import stop_cleanly_on_sigterm
from tickstream.infra.testbed import fresh_database, testbed

T0 = datetime(2026, 1, 1, tzinfo=UTC)
STATUSES_PER_RECORD = 100  # the worker packs a partition's status changes into one record


def campaign_statuses(messages: int, prefix: str) -> list[MessageStatus]:
    """A campaign's life: every message sent, 90% delivered, 50% read, 3% failed, in that order
    (so most records update a row that an earlier record created)."""
    records = []
    for rank, share in ((1, 1.0), (2, 0.9), (3, 0.5)):
        for n in range(int(messages * share)):
            failed = rank == 1 and n % 33 == 0
            seen = T0 + timedelta(seconds=rank * 60 + n % 60)
            records.append(
                MessageStatus(
                    message_id=f"{prefix}{n:08d}",
                    campaign_id=f"c{n % 50}",
                    workspace_id=f"w{n % 5}",
                    recipient=f"5511{n:09d}",
                    status=effective_status(rank, failed),
                    max_rank=rank,
                    failed=failed,
                    updated_at=seen,
                    dispatched_at=T0,
                    sent_at=T0 + timedelta(seconds=60),
                    delivered_at=seen if rank >= 2 else None,
                    read_at=seen if rank >= 3 else None,
                    failed_at=seen if failed else None,
                    error_code="131026" if failed else "",
                )
            )
    return records


def snapshots(count: int, campaigns: int = 500) -> list[Snapshot]:
    """``count`` snapshots over ``campaigns`` campaigns, one window per snapshot."""
    result = []
    for n in range(count):
        seq, campaign = divmod(n, campaigns)
        start = T0 + timedelta(seconds=seq)
        result.append(
            Snapshot(
                campaign_id=f"c{campaign}",
                campaign_uuid=f"uuid-{campaign}",
                workspace_id=f"w{campaign % 5}",
                seq=seq + 1,
                window=WindowCounts(start=start, end=start + timedelta(seconds=1), sent=3),
                statistics=Statistics(
                    total_message_count=10_000,
                    total_sent_count=3 * seq,
                    total_delivered_count=2 * seq,
                    total_read_count=seq,
                    total_played_count=0,
                    total_failed_count=0,
                    pending_count=10_000 - 3 * seq,
                    delivery_rate=66.67,
                    read_rate=50.0,
                    success_rate=0.03 * seq,
                    updated_at=start,
                ),
                timestamp=start,
            )
        )
    return result


def status_values(records: list[MessageStatus]) -> list[bytes]:
    return [
        encode_record(MessageStatusBatch(statuses=records[i : i + STATUSES_PER_RECORD]))
        for i in range(0, len(records), STATUSES_PER_RECORD)
    ]


def produce(bootstrap: str, topic: str, values: list[bytes]) -> None:
    producer = Producer(
        {"bootstrap.servers": bootstrap, "linger.ms": 20, "enable.idempotence": True}
    )
    for n, value in enumerate(values):
        while True:
            try:
                producer.produce(topic, key=str(n).encode(), value=value)
                break
            except BufferError:
                producer.poll(0.1)
        producer.poll(0)
    if producer.flush(60):
        raise RuntimeError("Kafka did not acknowledge every benchmark record")


def time_store(url: str, items: list[Item], batch_rows: int) -> float:
    """Seconds to write ``items`` with write_batch in batches of about ``batch_rows`` rows."""
    engine = sa.create_engine(url)
    started = time.perf_counter()
    batch: list[Item] = []
    rows = 0
    for item in items:
        batch.append(item)
        rows += item.rows
        if rows >= batch_rows:
            with engine.begin() as conn:
                write_batch(conn, batch)
            batch, rows = [], 0
    if batch:
        with engine.begin() as conn:
            write_batch(conn, batch)
    seconds = time.perf_counter() - started
    engine.dispose()
    return seconds


def time_sink(settings: SinkSettings, group: str, records: int) -> tuple[float, float]:
    """Seconds the real sink loop takes from its first record until it has written and committed
    all ``records`` (watched through its own metrics, so that watching costs nothing), and the
    rows it upserted (fewer than the records when a batch held several of one message)."""
    engine = sa.create_engine(settings.sqlalchemy_url)
    sink = Sink(settings, engine, group_id=group)
    stop = threading.Event()
    thread = threading.Thread(target=sink.run, args=(stop,), daemon=True)
    thread.start()
    try:
        while consumed(sink) == 0:  # group join and offset reset are not the sink's speed
            time.sleep(0.001)
        started = time.perf_counter()
        while total(sink, "sink_records_committed_total") < records:
            time.sleep(0.005)
        return time.perf_counter() - started, total(sink, "sink_rows_written_total")
    finally:
        stop.set()
        thread.join(60)
        engine.dispose()


def consumed(sink: Sink) -> float:
    return total(sink, "sink_records_total")


def total(sink: Sink, name: str) -> float:
    """A counter of the sink summed over its labels."""
    return sum(
        sample.value
        for metric in sink.metrics.registry.collect()
        for sample in metric.samples
        if sample.name == name
    )


@contextlib.contextmanager
def migrated_database(admin_url: str) -> Iterator[str]:
    """A database of its own with the newest schema, for one workload."""
    with fresh_database(admin_url, f"tickstream_bench_{uuid.uuid4().hex[:8]}") as url:
        upgrade(url)
        yield url


def end_to_end(
    bootstrap: str, admin_url: str, batch_rows: int, values: list[bytes], topic: str
) -> tuple[float, float]:
    """Pre-produce ``values`` to ``topic`` (a :class:`Topics` property name), then time the sink."""
    topics = Topics(prefix=f"bench-{uuid.uuid4().hex[:8]}-", partitions=8)
    create_topics(bootstrap, topics.all())
    produce(bootstrap, getattr(topics, topic), values)
    with migrated_database(admin_url) as url:
        settings = SinkSettings(
            kafka_bootstrap=bootstrap,
            database_url=url,
            topic_prefix=topics.prefix,
            topic_partitions=topics.partitions,
            sink_batch_records=batch_rows,
        )
        return time_sink(settings, f"{topics.prefix}bench", len(values))


def report(label: str, count: int, seconds: float, unit: str) -> None:
    print(f"  {label:44} {count:>9,} {unit} in {seconds:6.2f}s = {count / seconds:>9,.0f} {unit}/s")


def main() -> int:
    stop_cleanly_on_sigterm()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--snapshots", type=int, default=20_000)
    parser.add_argument("--batch-rows", type=int, default=SinkSettings().sink_batch_records)
    args = parser.parse_args()

    statuses = campaign_statuses(args.messages, prefix="m")
    snaps = snapshots(args.snapshots)
    status_items = [
        Item(
            Origin("bench", 0, n),
            MessageStatusBatch(statuses=statuses[i : i + STATUSES_PER_RECORD]),
        )
        for n, i in enumerate(range(0, len(statuses), STATUSES_PER_RECORD))
    ]
    snapshot_items = [Item(Origin("bench", 0, n), s) for n, s in enumerate(snaps)]
    print(
        f"sink benchmark: {len(statuses):,} message-status records ({args.messages:,} messages, "
        f"{STATUSES_PER_RECORD} per Kafka record), {len(snaps):,} snapshots, "
        f"batches of {args.batch_rows:,} rows, {os.cpu_count()} CPUs"
    )
    with testbed("tickstream-bench-sink-") as servers:
        bootstrap, admin_url = servers.kafka.address, servers.postgres.address
        print("write path alone (write_batch, no Kafka):")
        with migrated_database(admin_url) as url:
            seconds = time_store(url, status_items, args.batch_rows)
            report("message-status records (insert + 2 updates)", len(statuses), seconds, "rows")
            seconds = time_store(url, snapshot_items, args.batch_rows)
            report("snapshots (stats + window + campaign)", len(snaps), seconds, "snapshots")

        print("end to end (Kafka → Sink loop → PostgreSQL → offset commit):")
        seconds, rows = end_to_end(
            bootstrap, admin_url, args.batch_rows, status_values(statuses), "message_status"
        )
        report("message-status records consumed", len(statuses), seconds, "rows")
        report("  of which distinct rows upserted (merged)", int(rows), seconds, "rows")
        snapshot_values = [encode_record(s) for s in snaps]
        seconds, _ = end_to_end(
            bootstrap, admin_url, args.batch_rows, snapshot_values, "campaign_stats"
        )
        report("snapshots", len(snaps), seconds, "snapshots")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

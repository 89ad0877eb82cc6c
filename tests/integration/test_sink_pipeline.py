"""The sink against the real broker and PostgreSQL: exact tables, harmless replays, late snapshots,
poison records. Records are produced directly (the worker is not needed to test the sink).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import psycopg
import pytest
import sqlalchemy as sa
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer

from contract.events import (
    CampaignRegistration,
    Counters,
    Failure,
    GroupStatistics,
    Insights,
    MessageStatus,
    MessageStatusBatch,
    Snapshot,
    Statistics,
    WindowCounts,
    decode_dead_letter,
    encode,
    skip_message_id,
)
from contract.insights import BUCKETS
from contract.schema import campaign_stats, campaign_stats_windows, campaigns, message_status
from contract.settings import DatabaseSettings, sqlalchemy_url
from contract.status import effective_status
from contract.topics import Topics
from sink.lag import group_lag
from sink.merge import latest_snapshots, latest_windows, merge_statuses, row_status, row_status_sql
from sink.migrate import upgrade
from sink.records import Item, Origin
from sink.service import Sink
from sink.settings import SinkSettings
from sink.store import write_batch

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
TABLES = [campaigns, campaign_stats, campaign_stats_windows, message_status]
# Tags whose byte order differs from a linguistic one ("VIP" < "Z" < "a" < "é…"): PostgreSQL
# must sort them as Python does.
TAG_POOL = ["vip", "VIP", "é-tag", "b2b", "promo", "q4", "Z", "a"]
COORDINATOR_MOVING = {
    KafkaError.NOT_COORDINATOR,
    KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
    KafkaError.COORDINATOR_NOT_AVAILABLE,
}

# --------------------------------------------------------------------------- records


def status_history(rng: random.Random, message_id: str, campaign: tuple[str, str]) -> list[Any]:
    """The records a worker emits for one message as it learns more (rank, failure, times)."""
    campaign_id, workspace_id = campaign
    final_rank = rng.choice([0, 1, 1, 2, 2, 3, 3, 4])
    failed_at = T0 + timedelta(seconds=rng.randint(1, 50)) if rng.random() < 0.2 else None
    labelled = rng.random() < 0.6
    records = []
    for rank in range(final_rank + 1):
        times = {
            name: T0 + timedelta(seconds=10 * i + 1)
            for i, name in enumerate(["sent_at", "delivered_at", "read_at", "played_at"], 1)
            if i <= rank
        }
        failure = failed_at is not None and rng.random() < 0.5
        records.append(
            MessageStatus(
                message_id=message_id,
                campaign_id=campaign_id,
                workspace_id=workspace_id,
                recipient=f"55119{message_id[-6:]}",
                status=effective_status(rank, failure),
                max_rank=rank,
                failed=failure,
                updated_at=T0 + timedelta(seconds=rank),
                dispatched_at=T0,
                failed_at=failed_at if failure else None,
                sent_at=times.get("sent_at"),
                delivered_at=times.get("delivered_at"),
                read_at=times.get("read_at"),
                played_at=times.get("played_at"),
                error_code="131026" if failure else "",
                error_title="undeliverable" if failure else "",
                participants={"p1": rank, "p2": max(0, rank - 1)}
                if message_id.endswith("7")
                else {},
                # labels that differ from record to record: the sink keeps the larger template
                # and variant, and the five smallest of all tags
                template=rng.choice(["", "welcome", "promo"]) if labelled else "",
                variant=rng.choice(["", "A", "B"]) if labelled else "",
                tags=sorted(rng.sample(TAG_POOL, rng.randint(0, 4))) if labelled else [],
            )
        )
    return records


def status_records(rng: random.Random, messages: int, prefix: str = "m") -> list[MessageStatus]:
    """Histories of ``messages`` messages, with duplicates, shuffled (the sink must not care)."""
    records: list[MessageStatus] = []
    for n in range(messages):
        campaign = (f"c{n % 3}", f"w{n % 3 % 2}")
        records.extend(status_history(rng, f"{prefix}{n:06d}", campaign))
    records.extend(rng.sample(records, k=len(records) // 5))
    rng.shuffle(records)
    return records


def skip_records(rng: random.Random, recipients: int) -> list[MessageStatus]:
    """Skip rows as the worker emits them: skipped with a reason, some later attempted (the
    attempted record may come without the reason, and in any order), with duplicates."""
    records: list[MessageStatus] = []
    for n in range(recipients):
        campaign, recipient = f"c{n % 3}", f"+55{n:06d}"
        skipped = MessageStatus(
            message_id=skip_message_id(campaign, recipient),
            campaign_id=campaign,
            workspace_id=f"w{n % 3 % 2}",
            recipient=recipient,
            status="skipped",
            max_rank=0,
            failed=False,
            updated_at=T0 + timedelta(seconds=n % 7),
            skipped=True,
            skip_reason_code=rng.choice(["", "no_whatsapp", "opted_out"]),
            skip_reason=rng.choice(["", "no account", "asked to stop"]),
        )
        records.append(skipped)
        if rng.random() < 0.4:
            records.append(
                msgspec.structs.replace(
                    skipped,
                    status="attempted",
                    attempted=True,
                    skip_reason_code="",
                    skip_reason="",
                    updated_at=skipped.updated_at + timedelta(seconds=1),
                )
            )
    records.extend(rng.sample(records, k=len(records) // 4))
    rng.shuffle(records)
    return records


def pack(rng: random.Random, records: list[MessageStatus], most: int = 60) -> list[bytes]:
    values, start = [], 0
    while start < len(records):
        size = rng.randint(1, most)
        values.append(encode(MessageStatusBatch(statuses=records[start : start + size])))
        start += size
    return values


def insights_of(seq: int) -> Insights:
    """Insights that differ from one seq to the next in every part, so a stale one shows."""

    def histogram(offset: int) -> list[int]:
        return [seq * (bucket + offset) % 7 for bucket in range(BUCKETS)]

    return Insights(
        time_to_sent=histogram(1),
        time_to_delivered=histogram(2),
        time_to_read=histogram(3),
        failures=[
            Failure(code="131026", title="Message undeliverable", count=seq),
            Failure(code="", title="número inválido", count=1),
        ],
        groups=[
            GroupStatistics(
                kind="variant",
                value="A",
                counters=Counters(dispatched=10 * seq, sent=9 * seq, read=seq),
                time_to_read=histogram(4),
            ),
            GroupStatistics(
                kind="tag",
                value="vip",
                counters=Counters(dispatched=seq),
                time_to_read=[0] * BUCKETS,
            ),
        ],
    )


def insights_json(insights: Insights | None) -> Any:
    """The insights as the snapshot's JSON carries them: what the column must hold exactly."""
    return msgspec.json.decode(encode(insights))


def snapshot(
    campaign: str,
    workspace: str,
    seq: int,
    window: int,
    uuid: str = "",
    insights: Insights | None = None,
) -> Snapshot:
    start = T0 + timedelta(seconds=window)
    return Snapshot(
        campaign_id=campaign,
        campaign_uuid=uuid,
        workspace_id=workspace,
        seq=seq,
        window=WindowCounts(start=start, end=start + timedelta(seconds=1), sent=seq, read=1),
        statistics=Statistics(
            total_message_count=1000,
            total_sent_count=10 * seq,
            total_delivered_count=9 * seq,
            total_read_count=seq,
            total_played_count=0,
            total_failed_count=1,
            pending_count=1000 - 10 * seq - 1,
            delivery_rate=90.0,
            read_rate=round(100 / 9, 2),
            success_rate=seq,
            updated_at=start + timedelta(seconds=1),
        ),
        timestamp=start + timedelta(seconds=1),
        insights=insights,
    )


def snapshot_records(rng: random.Random, campaigns_: list[tuple[str, str]]) -> list[Snapshot]:
    """Growing seqs per campaign; a window is sometimes re-emitted with a higher seq. Insights
    from some seq on (none before, as a campaign's first snapshots may have none)."""
    records = []
    for campaign, workspace in campaigns_:
        window, first_insights = 0, rng.randint(1, 40)
        for seq in range(1, 30):
            window += rng.choice([0, 1, 1, 2])
            insights = insights_of(seq) if seq >= first_insights else None
            records.append(snapshot(campaign, workspace, seq, window, f"uuid-{campaign}", insights))
    return records


def produce(bootstrap: str, records: list[tuple[str, bytes | None, bytes | None]]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    for topic, key, value in records:
        producer.produce(topic, key=key, value=value)
        producer.poll(0)
    assert producer.flush(30) == 0


def produce_statuses(bootstrap: str, topics: Topics, values: list[bytes]) -> None:
    produce(bootstrap, [(topics.message_status, value[-40:], value) for value in values])


def produce_snapshots(bootstrap: str, topics: Topics, snapshots: list[Snapshot]) -> None:
    produce(
        bootstrap, [(topics.campaign_stats, s.campaign_id.encode(), encode(s)) for s in snapshots]
    )


def produce_registrations(
    bootstrap: str, topics: Topics, registrations: list[CampaignRegistration]
) -> None:
    produce(
        bootstrap,
        [(topics.campaign_events, r.campaign_id.encode(), encode(r)) for r in registrations],
    )


# --------------------------------------------------------------------------- running the sink


@contextmanager
def running_sink(settings: DatabaseSettings, group_id: str) -> Iterator[Sink]:
    """The sink's loop in a thread of this process, stopped (flush + commit) on exit."""
    engine = sa.create_engine(settings.sqlalchemy_url, pool_pre_ping=True)
    sink = Sink(SinkSettings.carrying(settings), engine, group_id=group_id)
    stop = threading.Event()
    thread = threading.Thread(target=sink.run, args=(stop,), daemon=True)
    thread.start()
    try:
        yield sink
    finally:
        stop.set()
        thread.join(60)
        engine.dispose()
    assert not thread.is_alive()
    assert sink.failure is None


def source_topics(topics: Topics) -> list[str]:
    return [topics.campaign_stats, topics.message_status, topics.campaign_events]


def wait_caught_up(bootstrap: str, group_id: str, topics: Topics, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    lag = -1
    while time.monotonic() < deadline:
        try:
            lag = group_lag(bootstrap, group_id, source_topics(topics))
        except KafkaException as exc:  # the group's coordinator still loading, or moving
            if exc.args[0].code() not in COORDINATOR_MOVING:
                raise
            time.sleep(0.2)
            continue
        if lag == 0:
            return
        time.sleep(0.2)
    raise AssertionError(f"the sink is still {lag} records behind after {timeout}s")


def consume_all(bootstrap: str, topic: str, expected: int, timeout: float = 30.0) -> list[bytes]:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"read-{time.time_ns()}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    values: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while len(values) < expected and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is not None and message.error() is None:
                values.append(message.value() or b"")
    finally:
        consumer.close()
    return values


# --------------------------------------------------------------------------- reading the tables


def dump(database_url: str) -> dict[str, list[dict[str, Any]]]:
    """Every table's rows, in key order, without ``created_at`` (the server's clock)."""
    engine = sa.create_engine(database_url)
    tables: dict[str, list[dict[str, Any]]] = {}
    with engine.connect() as conn:
        for table in TABLES:
            columns = [c for c in table.columns if c.name != "created_at"]
            query = sa.select(*columns).order_by(*table.primary_key.columns)
            tables[table.name] = [dict(row._mapping) for row in conn.execute(query)]
    engine.dispose()
    return tables


def status_row(status: MessageStatus) -> dict[str, Any]:
    return {column.name: getattr(status, column.name) for column in message_status.columns}


def expected_statuses(records: list[MessageStatus]) -> list[dict[str, Any]]:
    return [status_row(row) for row in merge_statuses(records)]


def stats_summary(rows: list[dict[str, Any]]) -> list[tuple[str, int, int]]:
    return [(r["campaign_id"], r["seq"], r["total_sent_count"]) for r in rows]


def window_summary(rows: list[dict[str, Any]]) -> list[tuple[str, datetime, int, int]]:
    return [(r["campaign_id"], r["window_start"], r["seq"], r["sent"]) for r in rows]


def check_snapshots(tables: dict[str, list[dict[str, Any]]], snapshots: list[Snapshot]) -> None:
    latest = latest_snapshots(snapshots)
    assert stats_summary(tables["campaign_stats"]) == [
        (s.campaign_id, s.seq, s.statistics.total_sent_count) for s in latest
    ]
    assert [r["snapshot"]["seq"] for r in tables["campaign_stats"]] == [s.seq for s in latest]
    assert [r["insights"] for r in tables["campaign_stats"]] == [
        insights_json(s.insights) for s in latest
    ]
    assert window_summary(tables["campaign_stats_windows"]) == [
        (s.campaign_id, s.window.start, s.seq, s.window.sent) for s in latest_windows(snapshots)
    ]


@contextmanager
def extra_database(postgres_admin_url: str, name: str) -> Iterator[str]:
    with psycopg.connect(postgres_admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = postgres_admin_url.rpartition("/")
    try:
        yield sqlalchemy_url(f"{base}/{name}")
    finally:
        with psycopg.connect(postgres_admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --------------------------------------------------------------------------- tests


def test_the_sql_status_is_the_python_status(database_url: str) -> None:
    engine = sa.create_engine(database_url)
    flags = (False, True)
    domain = [(r, f, s, a) for r in range(5) for f in flags for s in flags for a in flags]
    sql = row_status_sql(":rank", ":failed", ":skipped", ":attempted")
    with engine.connect() as conn:
        for rank, failed, skipped, attempted in domain:
            given = {"rank": rank, "failed": failed, "skipped": skipped, "attempted": attempted}
            got = conn.execute(sa.text(f"SELECT {sql}"), given).scalar()
            assert got == row_status(rank, failed, skipped, attempted), given
            if not skipped:
                assert got == effective_status(rank, failed)
        outside = row_status_sql("5", "false", "false", "false")
        assert conn.execute(sa.text(f"SELECT {outside}")).scalar() is None
    engine.dispose()


def test_merging_in_postgresql_equals_merging_in_python(database_url: str) -> None:
    """Random records written in random batches: the table is the Python merge of all of them."""
    upgrade(database_url)
    rng = random.Random(5)
    records = status_records(rng, 400) + skip_records(rng, 150)
    rng.shuffle(records)
    engine = sa.create_engine(database_url)
    start = 0
    while start < len(records):
        size = rng.randint(1, 300)
        batch = MessageStatusBatch(statuses=records[start : start + size])
        with engine.begin() as conn:
            write_batch(conn, [Item(Origin("t", 0, start), batch)])
        start += size
    engine.dispose()
    assert dump(database_url)["message_status"] == expected_statuses(records)


def test_replaying_the_topics_gives_identical_tables(
    settings: DatabaseSettings,
    topics: Topics,
    database_url: str,
    postgres_admin_url: str,
    group_id: str,
    unique: str,
) -> None:
    upgrade(database_url)
    settings = SinkSettings.carrying(settings, sink_batch_records=500, sink_batch_ms=50)
    rng = random.Random(11)
    statuses = status_records(rng, 1500)
    snapshots = snapshot_records(rng, [("c0", "w0"), ("c1", "w1"), ("c2", "w0"), ("c9", "w1")])
    registrations = [
        CampaignRegistration(
            campaign_id=f"c{n}",
            workspace_id=f"w{n % 2}",
            name=f"first {n}",
            total_recipients=900,
            received_at=T0,
        )
        for n in range(3)
    ] + [
        CampaignRegistration(
            campaign_id="c1",
            workspace_id="w1",
            name="renamed",
            total_recipients=1000,
            received_at=T0 + timedelta(minutes=1),
        )
    ]
    produce_registrations(settings.kafka_bootstrap, topics, registrations)
    produce_snapshots(settings.kafka_bootstrap, topics, snapshots)
    produce_statuses(settings.kafka_bootstrap, topics, pack(rng, statuses))

    with running_sink(settings, group_id):
        wait_caught_up(settings.kafka_bootstrap, group_id, topics)
    first = dump(database_url)
    assert first["message_status"] == expected_statuses(statuses)
    check_snapshots(first, snapshots)
    assert [
        (c["campaign_id"], c["workspace_id"], c["name"], c["total_recipients"], c["campaign_uuid"])
        for c in first["campaigns"]
    ] == [
        ("c0", "w0", "first 0", 900, "uuid-c0"),
        ("c1", "w1", "renamed", 1000, "uuid-c1"),
        ("c2", "w0", "first 2", 900, "uuid-c2"),
        ("c9", "w1", "", 0, "uuid-c9"),  # known only from its snapshots
    ]

    # the same records again, into the same database: nothing changes
    with running_sink(settings, f"{group_id}-again"):
        wait_caught_up(settings.kafka_bootstrap, f"{group_id}-again", topics)
    assert dump(database_url) == first

    # and into an empty database: the same tables
    with extra_database(postgres_admin_url, f"test_{unique}_fresh") as fresh_url:
        upgrade(fresh_url)
        fresh = SinkSettings.carrying(settings, database_url=fresh_url)
        with running_sink(fresh, f"{group_id}-fresh"):
            wait_caught_up(settings.kafka_bootstrap, f"{group_id}-fresh", topics)
        assert dump(fresh_url) == first


def test_a_late_older_snapshot_never_overwrites_a_newer_one(
    settings: DatabaseSettings, topics: Topics, database_url: str, group_id: str
) -> None:
    upgrade(database_url)
    bootstrap = settings.kafka_bootstrap
    with running_sink(settings, group_id):
        produce_snapshots(bootstrap, topics, [snapshot("c1", "w1", 7, window=7)])
        wait_caught_up(bootstrap, group_id, topics)
        # in a later batch: an older snapshot of the campaign, and of the same window
        produce_snapshots(
            bootstrap,
            topics,
            [snapshot("c1", "w1", 5, window=5), snapshot("c1", "w1", 6, window=7)],
        )
        wait_caught_up(bootstrap, group_id, topics)
        # in one batch: newer then older
        produce_snapshots(
            bootstrap,
            topics,
            [snapshot("c1", "w1", 9, window=9), snapshot("c1", "w1", 8, window=9)],
        )
        wait_caught_up(bootstrap, group_id, topics)
    tables = dump(database_url)
    assert stats_summary(tables["campaign_stats"]) == [("c1", 9, 90)]
    assert window_summary(tables["campaign_stats_windows"]) == [
        ("c1", T0 + timedelta(seconds=5), 5, 5),
        ("c1", T0 + timedelta(seconds=7), 7, 7),
        ("c1", T0 + timedelta(seconds=9), 9, 9),
    ]


def test_a_skip_then_its_attempt_and_the_funnel_statistics(
    settings: DatabaseSettings, topics: Topics, database_url: str, group_id: str
) -> None:
    upgrade(database_url)
    bootstrap = settings.kafka_bootstrap
    skipped = MessageStatus(
        message_id=skip_message_id("c1", "+5511"),
        campaign_id="c1",
        workspace_id="w1",
        recipient="+5511",
        status="skipped",
        max_rank=0,
        failed=False,
        updated_at=T0,
        skipped=True,
        skip_reason_code="no_whatsapp",
        skip_reason="the number has no WhatsApp account",
    )
    attempted = msgspec.structs.replace(
        skipped,
        status="attempted",
        attempted=True,
        skip_reason_code="",
        skip_reason="",
        updated_at=T0 + timedelta(seconds=3),
    )
    funnel = snapshot("c1", "w1", 4, window=4)
    funnel = msgspec.structs.replace(
        funnel,
        window=msgspec.structs.replace(funnel.window, skipped=2),
        statistics=msgspec.structs.replace(
            funnel.statistics,
            skipped_count=5,
            queued_count=900,
            awaiting_update_count=54,
            pending_count=954,
            started_at=T0 + timedelta(seconds=1),
            completed_at=T0 + timedelta(minutes=5),
        ),
    )

    def skip_row() -> dict[str, Any]:
        (row,) = dump(database_url)["message_status"]
        return row

    with running_sink(settings, group_id):
        produce_statuses(bootstrap, topics, [encode(MessageStatusBatch(statuses=[skipped]))])
        wait_caught_up(bootstrap, group_id, topics)
        assert skip_row()["status"] == "skipped"
        produce_statuses(bootstrap, topics, [encode(MessageStatusBatch(statuses=[attempted]))])
        produce_snapshots(bootstrap, topics, [funnel])
        wait_caught_up(bootstrap, group_id, topics)
    row = skip_row()
    assert (row["status"], row["skipped"], row["attempted"]) == ("attempted", True, True)
    assert (row["skip_reason_code"], row["skip_reason"]) == (
        "no_whatsapp",
        "the number has no WhatsApp account",
    )
    assert row["updated_at"] == attempted.updated_at
    tables = dump(database_url)
    (stats,) = tables["campaign_stats"]
    statistics = funnel.statistics
    assert {
        name: stats[name]
        for name in (
            "skipped_count",
            "queued_count",
            "awaiting_update_count",
            "pending_count",
            "started_at",
            "completed_at",
        )
    } == {
        "skipped_count": 5,
        "queued_count": 900,
        "awaiting_update_count": 54,
        "pending_count": 954,
        "started_at": statistics.started_at,
        "completed_at": statistics.completed_at,
    }
    assert stats["snapshot"]["statistics"]["skipped_count"] == 5
    (window,) = tables["campaign_stats_windows"]
    assert (window["skipped"], window["sent"]) == (2, 4)


def test_poison_records_go_to_the_dead_letter_topic_and_the_sink_goes_on(
    settings: DatabaseSettings, topics: Topics, database_url: str, group_id: str
) -> None:
    upgrade(database_url)
    bootstrap = settings.kafka_bootstrap
    good = status_records(random.Random(3), 50)
    nul = encode(MessageStatusBatch(statuses=[msgspec.structs.replace(good[0], recipient="5\x00")]))
    produce(
        bootstrap,
        [
            (topics.message_status, b"bad", b"\xff\xfe not json"),
            (topics.message_status, b"nul", nul),
            (topics.campaign_stats, b"c1", b'{"campaign_id": "c1"}'),
            (
                topics.campaign_events,
                b"c1",
                encode(
                    CampaignRegistration(
                        campaign_id="c1", workspace_id="w1", name="mine", received_at=T0
                    )
                ),
            ),
            (
                topics.campaign_events,
                b"c1",
                encode(
                    CampaignRegistration(
                        campaign_id="c1", workspace_id="w2", name="stolen", received_at=T0
                    )
                ),
            ),
        ],
    )
    produce_statuses(bootstrap, topics, pack(random.Random(4), good))
    with running_sink(settings, group_id) as sink:
        wait_caught_up(bootstrap, group_id, topics)
        assert sink.metrics.registry.get_sample_value("sink_dead_letters_total") == 4
    tables = dump(database_url)
    assert tables["message_status"] == expected_statuses(good)
    assert [(c["campaign_id"], c["workspace_id"], c["name"]) for c in tables["campaigns"]] == [
        ("c1", "w1", "mine")
    ]

    letters = [decode_dead_letter(v) for v in consume_all(bootstrap, topics.sink_dlq, 4)]
    assert len(letters) == 4, [letter.reason for letter in letters]
    garbage = next(d for d in letters if d.key_b64 == "YmFk")  # b"bad"
    assert garbage.topic == topics.message_status and garbage.offset >= 0
    assert garbage.reason.startswith("cannot decode")
    assert garbage.value_b64 == "//4gbm90IGpzb24="  # the raw bytes, untouched
    assert any("NUL" in d.reason for d in letters)
    assert any(d.topic == topics.campaign_stats and "missing" in d.reason.lower() for d in letters)
    refused = next(d for d in letters if d.topic == topics.campaign_events)
    assert "'w1'" in refused.reason and "'w2'" in refused.reason

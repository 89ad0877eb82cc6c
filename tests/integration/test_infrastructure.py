"""The infrastructure is real: a Kafka broker that both clients, transactions and Faust use, and a
PostgreSQL that SQLAlchemy with psycopg 3 writes to."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import faust
import pytest
import sqlalchemy as sa
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from confluent_kafka import Consumer, Producer

from contract.topics import Topics
from tickstream.infra import port_open

pytestmark = pytest.mark.integration


def _consume(bootstrap: str, topic: str, group: str, count: int, **extra: str) -> list[tuple]:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            **extra,
        }
    )
    consumer.subscribe([topic])
    got: list[tuple] = []
    try:
        for _ in range(200):
            if len(got) >= count:
                break
            msg = consumer.poll(0.2)
            if msg is None or msg.error():
                continue
            got.append((msg.key(), msg.value()))
    finally:
        consumer.close()
    return got


def test_confluent_kafka_round_trip(kafka_bootstrap: str, topics: Topics, group_id: str) -> None:
    producer = Producer(
        {"bootstrap.servers": kafka_bootstrap, "enable.idempotence": True, "acks": "all"}
    )
    for i in range(10):
        producer.produce(topics.ack_events, key=f"m{i}".encode(), value=f"v{i}".encode())
    assert producer.flush(10) == 0
    got = _consume(kafka_bootstrap, topics.ack_events, group_id, 10)
    assert sorted(got) == sorted((f"m{i}".encode(), f"v{i}".encode()) for i in range(10))


async def test_aiokafka_round_trip(kafka_bootstrap: str, topics: Topics, group_id: str) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    try:
        for i in range(5):
            await producer.send_and_wait(topics.campaign_events, key=b"c1", value=f"{i}".encode())
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        topics.campaign_events,
        bootstrap_servers=kafka_bootstrap,
        group_id=group_id,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        values: list[bytes] = []
        async with asyncio.timeout(30):
            while len(values) < 5:
                batch = await consumer.getmany(timeout_ms=500)
                values += [record.value for records in batch.values() for record in records]
    finally:
        await consumer.stop()
    assert values == [f"{i}".encode() for i in range(5)]  # one key: one partition, in order


def test_transactions_read_committed(kafka_bootstrap: str, topics: Topics, group_id: str) -> None:
    producer = Producer(
        {"bootstrap.servers": kafka_bootstrap, "transactional.id": f"tx-{group_id}"}
    )
    producer.init_transactions(30)
    producer.begin_transaction()
    producer.produce(topics.campaign_stats, key=b"k", value=b"aborted")
    producer.flush(10)
    producer.abort_transaction(30)
    producer.begin_transaction()
    producer.produce(topics.campaign_stats, key=b"k", value=b"committed")
    producer.commit_transaction(30)

    committed = _consume(
        kafka_bootstrap, topics.campaign_stats, group_id, 1, **{"isolation.level": "read_committed"}
    )
    assert committed == [(b"k", b"committed")]
    everything = _consume(
        kafka_bootstrap,
        topics.campaign_stats,
        group_id + "-ru",
        2,
        **{"isolation.level": "read_uncommitted"},
    )
    assert [value for _, value in everything] == [b"aborted", b"committed"]


async def test_faust_app_updates_a_table(
    kafka_bootstrap: str, topics: Topics, group_id: str, tmp_path: Path
) -> None:
    app = faust.App(
        group_id,
        broker=f"kafka://{kafka_bootstrap}",
        store="memory://",
        web_enabled=False,
        topic_partitions=topics.partitions,
        datadir=str(tmp_path),
        consumer_auto_offset_reset="earliest",
    )
    source = app.topic(topics.campaign_events, key_serializer="raw", value_serializer="raw")
    counts = app.Table("counts", default=int, partitions=topics.partitions)

    @app.agent(source)
    async def count(stream: faust.StreamT) -> None:
        async for key, _value in stream.items():
            counts[key.decode()] += 1

    producer = Producer({"bootstrap.servers": kafka_bootstrap})
    for _ in range(7):
        producer.produce(topics.campaign_events, key=b"campaign-1", value=b"x")
    producer.produce(topics.campaign_events, key=b"campaign-2", value=b"x")
    producer.flush(10)

    await app.start()
    try:
        async with asyncio.timeout(60):
            while counts.get("campaign-1") != 7 or counts.get("campaign-2") != 1:
                await asyncio.sleep(0.1)
    finally:
        await app.stop()
    assert counts["campaign-1"] == 7
    assert counts["campaign-2"] == 1


def test_postgres_through_sqlalchemy_psycopg(database_url: str) -> None:
    engine = sa.create_engine(database_url)
    assert engine.dialect.driver == "psycopg"
    meta = sa.MetaData()
    table = sa.Table(
        "probe",
        meta,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("note", sa.Text, nullable=False),
    )
    meta.create_all(engine)
    with engine.begin() as conn:
        conn.execute(table.insert(), [{"id": i, "note": f"n{i}"} for i in range(3)])
    with engine.connect() as conn:
        rows = conn.execute(sa.select(table.c.id, table.c.note).order_by(table.c.id)).all()
        version = conn.execute(sa.text("SHOW server_version")).scalar_one()
    engine.dispose()
    assert [tuple(row) for row in rows] == [(0, "n0"), (1, "n1"), (2, "n2")]
    assert version.split(".")[0].isdigit()


def test_infra_up_down_leaves_nothing_behind() -> None:
    # PostgreSQL runs as the `postgres` user when tests run as root: pytest's private tmp_path
    # is not reachable for it, so the state lives in a directory of its own under /tmp.
    tmp_path = Path(tempfile.mkdtemp(prefix="tickstream-infra-"))
    tmp_path.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k not in {"KAFKA_BOOTSTRAP", "DATABASE_URL"}}
    env["TICKSTREAM_HOME"] = str(tmp_path / "state")
    cli = [sys.executable, "-m", "tickstream", "infra"]
    up = subprocess.run([*cli, "up"], env=env, capture_output=True, text=True, timeout=180)
    assert up.returncode == 0, up.stderr
    written = dict(
        line.split("=", 1) for line in (tmp_path / "state" / "env").read_text().splitlines()
    )
    kafka_port = int(written["KAFKA_BOOTSTRAP"].rsplit(":", 1)[1])
    pg_port = int(written["DATABASE_URL"].rsplit(":", 1)[1].split("/")[0])
    assert port_open(kafka_port) and port_open(pg_port)
    status = subprocess.run([*cli, "status"], env=env, capture_output=True, text=True, timeout=60)
    assert "kafka: running" in status.stdout and "postgres: running" in status.stdout

    down = subprocess.run([*cli, "down"], env=env, capture_output=True, text=True, timeout=120)
    assert down.returncode == 0, down.stderr
    assert not port_open(kafka_port) and not port_open(pg_port)
    status = subprocess.run([*cli, "status"], env=env, capture_output=True, text=True, timeout=60)
    assert "kafka: stopped" in status.stdout and "postgres: stopped" in status.stdout
    leftovers = subprocess.run(
        ["pgrep", "-f", str(tmp_path / "state")], capture_output=True, text=True
    )
    assert leftovers.stdout.strip() == ""
    shutil.rmtree(tmp_path, ignore_errors=True)

"""The infrastructure is real: a Kafka broker that both Kafka clients use, and a PostgreSQL that
SQLAlchemy with psycopg 3 writes to."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from confluent_kafka import Consumer, Producer

from contract.topics import Topics
from tickstream.infra.ports import port_open
from tickstream.infra.testbed import scratch_directory
from tickstream.state_dir import infra_env_file, read_env_file

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


@pytest.fixture
def state_home() -> Iterator[Path]:
    """A state directory the ``postgres`` user reaches (the cluster runs as that user when the
    tests run as root; pytest's own tmp_path is private)."""
    with scratch_directory("tickstream-infra-") as base:
        yield base / "state"


def test_infra_up_down_leaves_nothing_behind(state_home: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in {"KAFKA_BOOTSTRAP", "DATABASE_URL"}}
    env["TICKSTREAM_HOME"] = str(state_home)
    cli = [sys.executable, "-m", "tickstream", "infra"]
    up = subprocess.run([*cli, "up"], env=env, capture_output=True, text=True, timeout=180)
    assert up.returncode == 0, up.stderr
    written = read_env_file(infra_env_file(state_home))
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
    leftovers = subprocess.run(["pgrep", "-f", str(state_home)], capture_output=True, text=True)
    assert leftovers.stdout.strip() == ""

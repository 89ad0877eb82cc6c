"""Helpers of the tests that run whole deployments (no tests here): one environment for every
service, as ``tickstream up`` gives it, and reading a topic to its end."""

from __future__ import annotations

import os
from pathlib import Path

from confluent_kafka import Consumer, Message, TopicPartition

from tickstream.infra.dev_secrets import dev_secrets
from tickstream.infra.ports import free_port


def deployment_env(
    kafka_bootstrap: str, database_url: str, prefix: str, partitions: int, home: Path
) -> dict[str, str]:
    """Every service's variables on free ports, with new development secrets."""
    ingest_port = free_port()
    return {
        **os.environ,
        **dev_secrets(home, {}),
        "KAFKA_BOOTSTRAP": kafka_bootstrap,
        "DATABASE_URL": database_url,
        "TOPIC_PREFIX": prefix,
        "TOPIC_PARTITIONS": str(partitions),
        "INGEST_PORT": str(ingest_port),
        "GATEWAY_PORT": str(free_port()),
        "SINK_PORT": str(free_port()),
        "WORKER_PORT": str(free_port()),
        "WEBHOOKS_PORT": str(free_port()),
        "WORKER_DATA_DIR": str(home / "worker"),
        "STATE_DIR": str(home / "state"),
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{ingest_port}",
        "WINDOW_SECONDS": "0.5",
        "LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
    }


def read_to_end(bootstrap: str, topic: str, partitions: int) -> list[Message]:
    """Every record the topic holds now, partition by partition in offset order."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "unused"})
    try:
        records: list[Message] = []
        for partition in range(partitions):
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), 10)
            if high <= low:
                continue
            where = TopicPartition(topic, partition, low)
            consumer.assign([where])
            while consumer.position([where])[0].offset < high:
                records += [r for r in consumer.consume(1000, 1.0) if r.error() is None]
        return records
    finally:
        consumer.close()

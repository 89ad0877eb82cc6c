"""How far a consumer group is behind: what an operator (and a test, or the benchmark) waits on to
know the sink has written everything produced so far."""

from __future__ import annotations

from confluent_kafka import Consumer, TopicPartition

from contract.logs import librdkafka_logger


def group_lag(bootstrap: str, group_id: str, topics: list[str], timeout: float = 10.0) -> int:
    """Records in ``topics`` not yet committed by ``group_id`` (a group that never committed
    counts from the start of each partition)."""
    probe = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group_id,
            "enable.auto.commit": False,
            **librdkafka_logger(),
        }
    )
    try:
        metadata = probe.list_topics(timeout=timeout)
        partitions = [
            TopicPartition(topic, partition)
            for topic in topics
            for partition in metadata.topics[topic].partitions
        ]
        committed = probe.committed(partitions, timeout=timeout)
        lag = 0
        for tp in committed:
            low, high = probe.get_watermark_offsets(
                TopicPartition(tp.topic, tp.partition), timeout=timeout
            )
            start = tp.offset if tp.offset >= 0 else low
            lag += max(0, high - start)
        return lag
    finally:
        probe.close()

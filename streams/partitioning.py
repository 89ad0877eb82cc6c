"""Which partition a key belongs to: the Java client's murmur2 rule, which Faust's client
(aiokafka) uses too, so ingest can pack events of one partition into one record and the worker can
tell which partition a message's state belongs to.
"""

from __future__ import annotations

from aiokafka.partitioner import murmur2


def partition_for(key: str, partitions: int) -> int:
    """The partition Kafka's default partitioner picks for ``key`` among ``partitions``."""
    return (murmur2(key.encode()) & 0x7FFFFFFF) % partitions

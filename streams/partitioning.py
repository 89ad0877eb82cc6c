"""Which partition a key belongs to: the Java client's murmur2 rule, which Faust's client
(aiokafka) uses too, so ingest can pack events of one partition into one record and the worker can
tell which partition a message's state belongs to.
"""

from __future__ import annotations

from collections.abc import Iterable

from aiokafka.partitioner import murmur2
from murmurhash2 import murmurhash2

_KAFKA_MURMUR2_SEED = 0x9747B28C


def partition_for(key: str, partitions: int) -> int:
    """The partition Kafka's default partitioner picks for ``key`` among ``partitions``."""
    return (murmur2(key.encode()) & 0x7FFFFFFF) % partitions


def partitions_for(keys: Iterable[str], partitions: int) -> list[int]:
    """:func:`partition_for` of many keys, with a C murmur2 (~40x faster than aiokafka's).

    Ingest hashes every event of a bulk request; at 50,000 events/s the pure-Python hash
    alone would take most of a core. Tests pin it to :func:`partition_for`.
    """
    seed = _KAFKA_MURMUR2_SEED
    return [(murmurhash2(key.encode(), seed) & 0x7FFFFFFF) % partitions for key in keys]

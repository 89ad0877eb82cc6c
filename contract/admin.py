"""Create the topics of :mod:`contract.topics` on a broker, idempotently."""

from __future__ import annotations

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from contract.topics import TopicSpec


def create_topics(bootstrap: str, specs: list[TopicSpec], timeout: float = 30.0) -> list[str]:
    """Create every topic that does not exist yet; return the names created.

    A topic that already exists is left as it is, so running this again is harmless.
    """
    admin = AdminClient({"bootstrap.servers": bootstrap})
    existing = set(admin.list_topics(timeout=timeout).topics)
    wanted = [
        NewTopic(
            spec.name, num_partitions=spec.partitions, replication_factor=-1, config=spec.config
        )
        for spec in specs
        if spec.name not in existing
    ]
    if not wanted:
        return []
    created = []
    for name, future in admin.create_topics(wanted, operation_timeout=timeout).items():
        try:
            future.result(timeout)
            created.append(name)
        except KafkaException as exc:
            if exc.args[0].name() != "TOPIC_ALREADY_EXISTS":
                raise
    return created

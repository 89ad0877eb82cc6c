"""``tickstream erase``: serve a data-protection request for one recipient's number in a workspace
(docs/operations.md, "Erasure").

The number lives in two stores that must both end erased, whatever order things happen in:
- the worker's message state: the command sends an ``Erase`` for every message of the number and
  for the number's skip key in every campaign of the workspace; the worker's join keeps ``erased``
  for good, so a late ack or a replayed dispatch cannot bring the number back, and it drops the
  skip keys (which hold the number) keeping their counts;
- ``message_status`` in PostgreSQL: the command deletes the skip rows and blanks the number in the
  other rows at once, setting their ``erased``, which the sink's upsert keeps for good: a record
  from before the erasure, read late or read again, cannot bring the number back to them. A skip
  row cannot keep a flag (its id is the number) and the worker may still have written it before it
  dropped the skip key, so the command waits until the worker has processed its events and the
  sink has written every ``message-status`` record before them, and deletes and blanks again.
  After that no record the sink has yet to read names it.

What Kafka still holds until retention or compaction removes it is printed with each topic's
settings as the broker reports them.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from confluent_kafka import (
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, ConfigResource, ResourceType
from sqlalchemy.dialects.postgresql import ARRAY

from contract.events import Erase, MessageEvent, skip_message_id
from contract.logs import librdkafka_logger
from contract.schema import campaigns, message_status
from contract.settings import sqlalchemy_url
from contract.topics import Topics
from ingest.batcher import group_by_partition, pack
from sink.service import default_group_id
from sink.settings import SinkSettings

KAFKA_TIMEOUT = 30.0
POLL_SECONDS = 0.5
MS_PER_HOUR = 3_600_000
# Kafka's "no limit" for a time setting
UNLIMITED_MS = {-1, 2**63 - 1}
# A group's coordinator is moving or starting (a new group, a restarted broker): ask again.
COORDINATOR_MOVING = {
    KafkaError.NOT_COORDINATOR,
    KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
    KafkaError.COORDINATOR_NOT_AVAILABLE,
}


@dataclass(frozen=True, slots=True)
class Targets:
    """What holds the number: message ids whose row names it, and its skip ids (one per
    campaign of the workspace, whether or not a skip was ever reported)."""

    messages: list[str]
    skips: list[str]

    def ids(self) -> list[str]:
        return sorted({*self.messages, *self.skips})


def targets_of(message_ids: Iterable[str], campaign_ids: Iterable[str], recipient: str) -> Targets:
    skips = sorted({skip_message_id(campaign, recipient) for campaign in campaign_ids})
    return Targets(sorted(set(message_ids) - set(skips)), skips)


def erase_records(
    ids: Sequence[str], workspace_id: str, partitions: int, at: datetime
) -> dict[int, list[tuple[str, bytes]]]:
    """The ``ack-events`` records, by partition: each message's ``Erase`` on its message id's
    partition, packed as ingest packs events (contract/partitioning.py)."""
    events: list[MessageEvent] = [
        Erase(message_id=message_id, workspace_id=workspace_id, received_at=at)
        for message_id in ids
    ]
    if not events:
        return {}
    return {
        partition: pack(group)
        for partition, group in group_by_partition(events, partitions).items()
    }


def caught_up(committed: Mapping[int, int], targets: Mapping[int, int]) -> bool:
    """Whether a group's committed offsets reached ``targets`` (partition: the offset after the
    last record it must have consumed; a group that never committed has none)."""
    return all(target <= 0 or committed.get(p, -1) >= target for p, target in targets.items())


# --------------------------------------------------------------------------- what Kafka keeps


def holders(topics: Topics) -> list[tuple[str, str]]:
    """The topics that may hold a number, and what of theirs does (docs/topics.md, "Retention
    and compaction"); the others hold counts, campaigns and keys only."""
    return [
        (
            topics.ack_events,
            "dispatches, acks and skips that named it, and the erase events of its skip keys",
        ),
        (topics.message_status, "the statuses the worker wrote before erasing it"),
        (topics.changelog("messages"), "message and skip states from before the erasure"),
        (topics.ingest_dlq, "request bodies ingest kept because it could not read them"),
        (topics.worker_dlq, "ack-events records the worker could not read"),
        (topics.sink_dlq, "message-status records the sink could not write"),
    ]


RETENTION_SETTINGS = (
    "cleanup.policy",
    "retention.ms",
    "segment.ms",
    "delete.retention.ms",
    "max.compaction.lag.ms",
)


def duration(ms: str) -> str:
    """A Kafka time setting for people: ``604800000`` is ``7 d``."""
    value = int(ms)
    if value in UNLIMITED_MS:
        return "no limit"
    hours = value / MS_PER_HOUR
    if hours >= 24 and hours % 24 == 0:
        return f"{int(hours // 24)} d"
    if hours >= 1:
        return f"{hours:g} h"
    return f"{value / 1000:g} s"


def retention_notice(topic: str, what: str, config: Mapping[str, str]) -> str:
    """How long ``topic`` may still hold the number, from its settings as the broker has them.

    Kafka deletes or compacts whole segments, and never the one being written, which it rolls
    when a record arrives after ``segment.ms`` (for a compacted topic, after the smaller of that
    and ``max.compaction.lag.ms``): a record stays until its segment rolled and then the
    retention (or the cleaner) takes it, and on a quiet topic until more records come.
    """
    if "compact" in config["cleanup.policy"]:
        lag = config["max.compaction.lag.ms"]
        bound = (
            "with no time bound (set max.compaction.lag.ms for one)"
            if int(lag) in UNLIMITED_MS
            else f"about max.compaction.lag.ms {duration(lag)} after they were written"
        )
        return (
            f"{topic}: {what}. Compacted: a key's older values stay until the cleaner compacts "
            f"their segment, {bound}; a deleted key's tombstone (a skip key holds the number) "
            f"stays delete.retention.ms {duration(config['delete.retention.ms'])} longer."
        )
    retention = config["retention.ms"]
    if int(retention) in UNLIMITED_MS:
        return f"{topic}: {what}. Retention: no limit (retention.ms -1): kept until deleted."
    return (
        f"{topic}: {what}. Deleted segment.ms {duration(config['segment.ms'])} + retention.ms "
        f"{duration(retention)} after it was written at the latest, if records keep coming "
        "(a segment rolls only when one arrives)."
    )


def topic_settings(bootstrap: str, names: Sequence[str]) -> dict[str, dict[str, str]]:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    resources = [ConfigResource(ResourceType.TOPIC, name) for name in names]
    found: dict[str, dict[str, str]] = {}
    for resource, future in admin.describe_configs(resources).items():
        entries = future.result(KAFKA_TIMEOUT)
        found[resource.name] = {key: entries[key].value for key in RETENTION_SETTINGS}
    return found


# --------------------------------------------------------------------------- PostgreSQL


def _one_of(column: sa.Column[str], values: Sequence[str]) -> sa.ColumnElement[bool]:
    """``column = ANY(%(ids)s)``: one array parameter however many values."""
    return column == sa.any_(sa.bindparam("ids", list(values), type_=ARRAY(sa.Text)))


def _names(recipient: str) -> sa.ColumnElement[bool]:
    """A row whose recipient is the number, or a group message it took part in."""
    return sa.or_(
        message_status.c.recipient == recipient,
        message_status.c.participants.has_key(recipient),
    )


def find_targets(conn: sa.Connection, workspace_id: str, recipient: str) -> Targets:
    mine = message_status.c.workspace_id == workspace_id
    named = conn.scalars(
        sa.select(message_status.c.message_id).where(mine, _names(recipient))
    ).all()
    registered = sa.select(campaigns.c.campaign_id).where(campaigns.c.workspace_id == workspace_id)
    with_rows = sa.select(message_status.c.campaign_id).where(mine).distinct()
    campaign_ids = conn.scalars(sa.union(registered, with_rows)).all()
    return targets_of(named, campaign_ids, recipient)


def blank(engine: sa.Engine, workspace_id: str, recipient: str, found: Targets) -> tuple[int, int]:
    """Delete the skip rows (their id holds the number) and blank the rest for good (``erased``,
    which the sink's upsert never clears), in one transaction: (rows blanked, rows deleted)."""
    mine = message_status.c.workspace_id == workspace_id
    with engine.begin() as conn:
        deleted = conn.execute(
            sa.delete(message_status).where(mine, _one_of(message_status.c.message_id, found.skips))
        ).rowcount
        blanked = conn.execute(
            sa.update(message_status)
            .where(mine, _names(recipient))
            .values(recipient="", participants={}, erased=True)
        ).rowcount
    return blanked, deleted


# --------------------------------------------------------------------------- Kafka


def produce(
    bootstrap: str, topic: str, records: Mapping[int, list[tuple[str, bytes]]]
) -> dict[int, int]:
    """Produce ``records`` and return, per partition, the offset after the last one."""
    producer = Producer(
        {"bootstrap.servers": bootstrap, "enable.idempotence": True, **librdkafka_logger()}
    )
    ends: dict[int, int] = {}
    errors: list[str] = []

    def delivered(error: KafkaError | None, message: Message) -> None:
        partition, offset = message.partition(), message.offset()
        if error is not None or partition is None or offset is None:
            errors.append(str(error))
            return
        ends[partition] = max(ends.get(partition, 0), offset + 1)

    for partition, items in records.items():
        for key, value in items:
            producer.produce(
                topic, value=value, key=key, partition=partition, on_delivery=delivered
            )
            producer.poll(0)
    if producer.flush(KAFKA_TIMEOUT) or errors:
        raise RuntimeError(f"Kafka did not take the erase events: {errors or 'timeout'}")
    return ends


class Offsets:
    """Committed offsets of a consumer group and ends of partitions, asked from the broker
    without joining the group."""

    def __init__(self, bootstrap: str, group: str) -> None:
        self._probe = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": group,
                "enable.auto.commit": False,
                **librdkafka_logger(),
            }
        )

    def committed(self, topic: str, partitions: Iterable[int]) -> dict[int, int]:
        asked = [TopicPartition(topic, p) for p in partitions]
        return {tp.partition: tp.offset for tp in self._probe.committed(asked, KAFKA_TIMEOUT)}

    def ends(self, topic: str) -> dict[int, int]:
        metadata = self._probe.list_topics(topic, timeout=KAFKA_TIMEOUT).topics[topic]
        return {
            p: self._probe.get_watermark_offsets(TopicPartition(topic, p), KAFKA_TIMEOUT)[1]
            for p in metadata.partitions
        }

    def wait(self, topic: str, targets: Mapping[int, int], deadline: float) -> bool:
        while True:
            try:
                if caught_up(self.committed(topic, targets), targets):
                    return True
            except KafkaException as exc:
                error: KafkaError = exc.args[0]
                if not (error.retriable() or error.code() in COORDINATOR_MOVING):
                    raise
            if time.monotonic() > deadline:
                return False
            time.sleep(POLL_SECONDS)

    def close(self) -> None:
        self._probe.close()


def wait_for_pipeline(
    bootstrap: str, topics: Topics, sink_group: str, produced: Mapping[int, int], timeout: float
) -> str | None:
    """None once the worker has processed the erase events and the sink has written every
    ``message-status`` record written before that; else which of them has not."""
    deadline = time.monotonic() + timeout
    worker = Offsets(bootstrap, topics.worker_app)
    sink = Offsets(bootstrap, sink_group)
    try:
        if not worker.wait(topics.ack_events, produced, deadline):
            return f"the worker (group {topics.worker_app}) has not processed the erase events"
        # A committed offset implies the worker's output before it is on the topics
        # (docs/exactness.md, point 4): these ends cover every status that may name the number.
        if not sink.wait(topics.message_status, sink.ends(topics.message_status), deadline):
            return f"the sink (group {sink_group}) has not written what the worker wrote before"
        return None
    finally:
        worker.close()
        sink.close()


# --------------------------------------------------------------------------- the command


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workspace", required=True, help="the workspace the request is for")
    parser.add_argument(
        "--recipient",
        required=True,
        metavar="PHONE",
        help="the number exactly as the sender reported it (run once per form it was sent in)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=300.0,
        help="seconds to wait for the worker and the sink to catch up (default 300)",
    )


def run(args: argparse.Namespace, settings: SinkSettings) -> int:
    """Erase, then report; 1 when the pipeline did not catch up in time (run it again)."""
    if not (settings.kafka_bootstrap and settings.database_url):
        print("KAFKA_BOOTSTRAP and DATABASE_URL must be set", file=sys.stderr)
        return 2
    topics = Topics.from_settings(settings)
    sink_group = default_group_id(settings)
    engine = sa.create_engine(sqlalchemy_url(settings.database_url), poolclass=sa.NullPool)
    try:
        with engine.connect() as conn:
            found = find_targets(conn, args.workspace, args.recipient)
        records = erase_records(found.ids(), args.workspace, topics.partitions, datetime.now(UTC))
        produced = produce(settings.kafka_bootstrap, topics.ack_events, records)
        blanked, deleted = blank(engine, args.workspace, args.recipient, found)
        print(
            f"message_status: {blanked} rows blanked, {deleted} skip rows deleted; erase events "
            f"sent to the worker for {len(found.messages)} messages and the skip keys of "
            f"{len(found.skips)} campaigns"
        )
        late = wait_for_pipeline(
            settings.kafka_bootstrap, topics, sink_group, produced, args.timeout
        )
        again = blank(engine, args.workspace, args.recipient, found)
    finally:
        engine.dispose()
    if late is None:
        print(
            "the worker has erased its state and the sink has written everything before; "
            f"rows the pipeline still had on its way, blanked or deleted now: {sum(again)}"
        )
    held = holders(topics)
    settings_of = topic_settings(settings.kafka_bootstrap, [name for name, _ in held])
    print("Kafka topics that may still hold the number:")
    for name, what in held:
        print("  " + retention_notice(name, what, settings_of[name]))
    if late is not None:
        print(
            f"not finished: {late} within {args.timeout:g} s. Statuses on their way may still "
            "bring the number back to message_status as skip rows, or in rows it had not "
            "written yet: run the same command again once the worker and the sink run (it is "
            "safe to repeat).",
            file=sys.stderr,
        )
        return 1
    return 0

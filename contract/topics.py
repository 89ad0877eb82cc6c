"""Every Kafka topic tickstream uses, its key and its partition count: the only place topic names
are written.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from contract.settings import ServiceSettings

ACK_EVENTS = "ack-events"
CAMPAIGN_EVENTS = "campaign-events"
INGEST_DLQ = "ingest-dlq"
CAMPAIGN_STATS = "campaign-stats"
MESSAGE_STATUS = "message-status"
CAMPAIGN_PARTIALS = "campaign-partials"
SINK_DLQ = "sink-dlq"
WORKER_DLQ = "worker-dlq"
SENDER_KEYS = "sender-keys"
CAMPAIGN_OWNERS = "campaign-owners"
WORKER_APP = "tickstream-worker"
# The webhook deliverer's consumer group (docs/webhooks.md): offsets of its own, so that it never
# holds back the sink, and the sink never holds it back.
WEBHOOKS_GROUP = "tickstream-webhooks"
# The worker's tables (see streams/worker.py); Faust names their changelogs app-table-changelog.
WORKER_TABLES = ("messages", "campaigns")
# Smaller segments than Kafka's 1 GiB let the cleaner compact a changelog while it is still
# growing, so that a restarted worker reads each key about once instead of once per update.
COMPACTED = {
    "cleanup.policy": "compact",
    "segment.bytes": str(64 * 1024 * 1024),
    "min.cleanable.dirty.ratio": "0.2",
}


@dataclass(frozen=True, slots=True)
class TopicSpec:
    """A topic's full (prefixed) name and how it is partitioned."""

    name: str
    partitions: int
    key: str
    config: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Topics:
    """The prefixed names of all topics for one deployment (one ``TOPIC_PREFIX``)."""

    prefix: str
    partitions: int

    def name(self, base: str) -> str:
        return f"{self.prefix}{base}"

    @property
    def ack_events(self) -> str:
        return self.name(ACK_EVENTS)

    @property
    def campaign_events(self) -> str:
        return self.name(CAMPAIGN_EVENTS)

    @property
    def ingest_dlq(self) -> str:
        return self.name(INGEST_DLQ)

    @property
    def campaign_stats(self) -> str:
        return self.name(CAMPAIGN_STATS)

    @property
    def message_status(self) -> str:
        return self.name(MESSAGE_STATUS)

    @property
    def campaign_partials(self) -> str:
        return self.name(CAMPAIGN_PARTIALS)

    @property
    def sink_dlq(self) -> str:
        return self.name(SINK_DLQ)

    @property
    def worker_dlq(self) -> str:
        return self.name(WORKER_DLQ)

    @property
    def sender_keys(self) -> str:
        return self.name(SENDER_KEYS)

    @property
    def campaign_owners(self) -> str:
        return self.name(CAMPAIGN_OWNERS)

    @property
    def worker_app(self) -> str:
        """The worker's Faust app id, which is also its consumer group."""
        return self.name(WORKER_APP)

    @property
    def webhooks_group(self) -> str:
        """The consumer group every webhook deliverer of this deployment shares."""
        return self.name(WEBHOOKS_GROUP)

    def changelog(self, table: str) -> str:
        return f"{self.worker_app}-{table}-changelog"

    def all(self) -> list[TopicSpec]:
        """Every topic the services read or write, with the partition count each needs."""
        p = self.partitions
        return [
            TopicSpec(self.ack_events, p, "message id"),
            TopicSpec(self.campaign_events, p, "campaign id"),
            TopicSpec(self.campaign_partials, p, "campaign id"),
            TopicSpec(self.campaign_stats, p, "campaign id"),
            TopicSpec(self.message_status, p, "message id"),
            TopicSpec(self.ingest_dlq, 1, "none"),
            TopicSpec(self.sink_dlq, 1, "none"),
            TopicSpec(self.worker_dlq, 1, "none"),
            # tables every ingest instance reads whole and follows (docs/ingest.md)
            TopicSpec(self.sender_keys, p, "key id", COMPACTED),
            TopicSpec(self.campaign_owners, p, "campaign id", COMPACTED),
            # Created here rather than left to Faust, so that they exist before any worker writes:
            # a topic appearing under a running producer is where aiokafka's metadata refresh
            # can stall (docs/exactness.md).
            *(
                TopicSpec(self.changelog(table), p, "table key", COMPACTED)
                for table in WORKER_TABLES
            ),
        ]

    @classmethod
    def from_settings(cls, settings: ServiceSettings) -> Topics:
        return cls(prefix=settings.topic_prefix, partitions=settings.topic_partitions)

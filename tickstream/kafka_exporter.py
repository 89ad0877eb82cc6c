"""``python -m tickstream.kafka_exporter``: the figures that live in Kafka rather than in any
service, as Prometheus metrics for the alerts and the dashboard in deploy/ (docs/operations.md).

- ``tickstream_consumer_lag_records{group, topic}``: records of ``topic`` the worker's, the
  sink's or the webhook deliverers' consumer group has not committed yet, asked from the broker
  at every scrape.
- ``tickstream_campaign_messages{campaign_id, workspace_id, outcome}`` (``sent`` or
  ``failed``): each campaign's counters from its newest snapshot on ``campaign-stats``, for the
  campaigns with a snapshot in the last ``ACTIVE_SECONDS`` only, so the series stay few.

A generic Kafka exporter would give the lag too; this one needs nothing beyond the project, so
the rules can rely on one set of names.
"""

from __future__ import annotations

import json
import logging
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

from confluent_kafka import Consumer, KafkaException, TopicPartition
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from contract.logs import configure_logging, librdkafka_logger
from contract.settings import Port, ServiceSettings
from contract.topics import Topics

ACTIVE_SECONDS = 3600.0
log = logging.getLogger("kafka-exporter")


class KafkaExporterSettings(ServiceSettings, frozen=True, kw_only=True):
    kafka_exporter_port: Port = 8093


def watched_groups(topics: Topics) -> dict[str, list[str]]:
    """Each consumer group of a deployment and the topics it consumes."""
    return {
        topics.worker_app: [topics.ack_events, topics.campaign_partials, topics.campaign_events],
        f"{topics.prefix}tickstream-sink": [
            topics.campaign_stats,
            topics.message_status,
            topics.campaign_events,
        ],
        topics.webhooks_group: [topics.campaign_stats],
    }


class LagCollector(Collector):
    def __init__(self, bootstrap: str, groups: dict[str, list[str]]) -> None:
        self.groups = groups
        self.probes = {
            group: Consumer(
                {
                    "bootstrap.servers": bootstrap,
                    "group.id": group,
                    "enable.auto.commit": False,
                    **librdkafka_logger(),
                }
            )
            for group in groups
        }

    def collect(self) -> Iterator[GaugeMetricFamily]:
        lag = GaugeMetricFamily(
            "tickstream_consumer_lag_records",
            "records of the topic not yet committed by the consumer group",
            labels=["group", "topic"],
        )
        for group, topics in self.groups.items():
            try:
                figures = self.lag_of(group, topics)
            except KafkaException as exc:  # a coordinator moving: this scrape goes without
                log.warning("lag of %s unknown for now: %s", group, exc)
                continue
            for topic, records in figures.items():
                lag.add_metric([group, topic], records)
        yield lag

    def lag_of(self, group: str, topics: list[str], timeout: float = 5.0) -> dict[str, int]:
        """A group that never committed counts from the start of each partition."""
        probe = self.probes[group]
        metadata = probe.list_topics(timeout=timeout)
        partitions = [
            TopicPartition(topic, partition)
            for topic in topics
            if topic in metadata.topics
            for partition in metadata.topics[topic].partitions
        ]
        lag = dict.fromkeys((p.topic for p in partitions), 0)
        for committed in probe.committed(partitions, timeout=timeout):
            low, high = probe.get_watermark_offsets(
                TopicPartition(committed.topic, committed.partition), timeout=timeout
            )
            start = committed.offset if committed.offset >= 0 else low
            lag[committed.topic] += max(0, high - start)
        return lag


@dataclass(frozen=True, slots=True)
class CampaignFigures:
    workspace_id: str
    seq: int
    sent: int
    failed: int
    seen_at: float


class CampaignCollector(Collector):
    """Follows ``campaign-stats`` in a thread of its own, keeping each campaign's newest figures
    (highest ``seq``: duplicates and replays change nothing, docs/topics.md)."""

    def __init__(self, bootstrap: str, topic: str, partitions: int) -> None:
        self.campaigns: dict[str, CampaignFigures] = {}
        self.consumer = Consumer(
            {"bootstrap.servers": bootstrap, "group.id": "unused", **librdkafka_logger()}
        )
        self.topic = topic
        self.partitions = partitions
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.follow, name="campaign-stats", daemon=True)

    def follow(self) -> None:
        self.consumer.assign(self.starts())
        while not self.stopping.is_set():
            for record in self.consumer.consume(500, 0.5):
                if record.error() is None:
                    self.take(record.value() or b"")

    def starts(self) -> list[TopicPartition]:
        """Where the last ``ACTIVE_SECONDS`` begin in each partition, once the broker can say
        (a partition without a leader yet, just after the topic was created, cannot)."""
        since_ms = int((time.time() - ACTIVE_SECONDS) * 1000)
        wanted = [TopicPartition(self.topic, p, since_ms) for p in range(self.partitions)]
        while not self.stopping.is_set():
            try:
                return list(self.consumer.offsets_for_times(wanted, timeout=10))
            except KafkaException as exc:
                log.warning("campaign-stats offsets not available yet: %s", exc)
                self.stopping.wait(1.0)
        return []

    def take(self, value: bytes) -> None:
        try:
            snapshot = json.loads(value)
            statistics = snapshot["statistics"]
            figures = CampaignFigures(
                workspace_id=str(snapshot["workspace_id"]),
                seq=int(snapshot["seq"]),
                sent=int(statistics.get("total_sent_count", 0)),
                failed=int(statistics.get("total_failed_count", 0)),
                seen_at=time.time(),
            )
            campaign = str(snapshot["campaign_id"])
        except (ValueError, KeyError, TypeError):
            log.warning("a campaign-stats record that is no snapshot was skipped")
            return
        held = self.campaigns.get(campaign)
        if held is None or figures.seq > held.seq:
            self.campaigns[campaign] = figures

    def collect(self) -> Iterator[GaugeMetricFamily]:
        messages = GaugeMetricFamily(
            "tickstream_campaign_messages",
            "a campaign's messages by outcome (sent or beyond; failed), from its newest snapshot",
            labels=["campaign_id", "workspace_id", "outcome"],
        )
        oldest = time.time() - ACTIVE_SECONDS
        for campaign, figures in list(self.campaigns.items()):
            if figures.seen_at < oldest:
                continue
            messages.add_metric([campaign, figures.workspace_id, "sent"], figures.sent)
            messages.add_metric([campaign, figures.workspace_id, "failed"], figures.failed)
        yield messages


def main() -> int:
    settings = KafkaExporterSettings.from_env()
    configure_logging("kafka-exporter", settings.log_level, settings.log_format)
    if not settings.kafka_bootstrap:
        log.error("KAFKA_BOOTSTRAP is not set")
        return 2
    topics = Topics.from_settings(settings)
    campaigns = CampaignCollector(
        settings.kafka_bootstrap, topics.campaign_stats, topics.partitions
    )
    registry = CollectorRegistry()
    registry.register(LagCollector(settings.kafka_bootstrap, watched_groups(topics)))
    registry.register(campaigns)
    campaigns.thread.start()
    server, thread = start_http_server(
        settings.kafka_exporter_port, settings.bind_host, registry=registry
    )
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda signum, frame: stopping.set())
    signal.signal(signal.SIGINT, lambda signum, frame: stopping.set())
    stopping.wait()
    server.shutdown()
    thread.join()
    campaigns.stopping.set()
    campaigns.thread.join()
    campaigns.consumer.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

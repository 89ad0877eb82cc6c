"""Prometheus metrics of one ingest process, in a registry of its own (tests build many apps)."""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram

from contract.events import AckEvent, MessageEvent, Skip
from ingest.providers.webjs import OTHER_EVENTS

MAX_LABEL_PAIRS = 200
RECORD_EVENTS_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048)
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.accepted = Counter(
            "tickstream_ingest_events_accepted_total",
            "Events acknowledged by Kafka, by provider and status "
            "(dispatches: status=dispatch, skips: status=skip)",
            ["provider", "status"],
            registry=self.registry,
        )
        self.campaigns = Counter(
            "tickstream_ingest_campaigns_accepted_total",
            "Campaign registrations acknowledged by Kafka",
            registry=self.registry,
        )
        self.rejected = Counter(
            "tickstream_ingest_rejections_total",
            "Requests refused, by reason",
            ["reason"],
            registry=self.registry,
        )
        self._accepted: dict[tuple[str, str], Any] = {}
        self.webjs_ignored = Counter(
            "tickstream_ingest_webjs_ignored_total",
            "Events of the whatsapp-web.js Node service that are not acks: answered 200, dropped",
            ["event"],
            registry=self.registry,
        )
        self.produce_seconds = Histogram(
            "tickstream_ingest_produce_seconds",
            "From handing a request's events to the producer until Kafka acknowledged them all",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.record_events = Histogram(
            "tickstream_ingest_record_events",
            "Events per record produced on ack-events (the worker's cost is mostly per record)",
            buckets=RECORD_EVENTS_BUCKETS,
            registry=self.registry,
        )

    def count_accepted(self, events: Sequence[MessageEvent]) -> None:
        """One counter update per (provider, status), not per event: bulk requests are big."""
        if len(events) == 1:  # a webhook's single event: no tally needed
            self._inc(_labels(events[0]), 1)
            return
        for labels, count in Tally(_labels(e) for e in events).items():
            self._inc(labels, count)

    def _inc(self, labels: tuple[str, str], count: int) -> None:
        child = self._accepted.get(labels)
        if child is None:  # .labels() costs more than the increment; keep the children
            if len(self._accepted) >= MAX_LABEL_PAIRS:
                # `provider` of /v1/events is the sender's free text: bound the series
                labels = ("other", labels[1])
            child = self._accepted.setdefault(labels, self.accepted.labels(*labels))
        child.inc(count)

    def count_ignored(self, event: str) -> None:
        self.webjs_ignored.labels(event if event in OTHER_EVENTS else "other").inc()


def _labels(event: MessageEvent) -> tuple[str, str]:
    if isinstance(event, AckEvent):
        return event.provider, event.status
    return "api", "skip" if isinstance(event, Skip) else "dispatch"

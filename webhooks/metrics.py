"""The webhook deliverer's Prometheus metrics, in a registry of their own so that several
deliverers (tests) can live in one process without clashing."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class WebhookMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = r = registry or CollectorRegistry()
        self.records = Counter("webhooks_records", "campaign-stats records consumed", registry=r)
        self.events = Counter(
            "webhooks_events", "events derived from snapshots (before subscriptions)", registry=r
        )
        self.created = Counter(
            "webhooks_deliveries_created", "deliveries added to the outbox", registry=r
        )
        self.attempts = Counter(
            "webhooks_attempts", "requests made, by outcome", ["outcome"], registry=r
        )
        self.given_up = Counter(
            "webhooks_given_up", "deliveries given up at WEBHOOKS_MAX_AGE_HOURS", registry=r
        )
        self.request_seconds = Histogram(
            "webhooks_request_seconds",
            "from a request's start to its answer (or its failure)",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=r,
        )
        self.delay_seconds = Histogram(
            "webhooks_delivery_delay_seconds",
            "from an event's arrival in the outbox to its delivery (retries included)",
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 86400),
            registry=r,
        )
        self.db_errors = Counter(
            "webhooks_db_errors", "PostgreSQL errors (retried with backoff)", registry=r
        )
        self.pending = Gauge(
            "webhooks_pending", "deliveries neither delivered nor given up", registry=r
        )
        self.oldest_pending_seconds = Gauge(
            "webhooks_oldest_pending_seconds",
            "age of the oldest delivery neither delivered nor given up (0: none)",
            registry=r,
        )
        self.paused = Gauge(
            "webhooks_paused_subscriptions",
            "subscriptions waiting after a failed try (their receiver is failing)",
            registry=r,
        )
        self.lanes = Gauge(
            "webhooks_lanes", "subscriptions being served by this process right now", registry=r
        )

"""Prometheus metrics of one gateway instance, in a registry of its own (several apps may run
in one process, as in tests)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class GatewayMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.connections = Gauge(
            "gateway_connections", "Open WebSocket connections", ["protocol"], registry=r
        )
        self.subscriptions = Gauge(
            "gateway_subscriptions", "Channel subscriptions held", ["protocol"], registry=r
        )
        self.messages_pushed = Counter(
            "gateway_messages_pushed", "Frames written to clients", ["protocol"], registry=r
        )
        self.push_latency = Histogram(
            "gateway_push_latency_seconds",
            "From a snapshot or event reaching the gateway to its frame being written to a client",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.clients_dropped = Counter(
            "gateway_clients_dropped", "Clients closed for falling behind", ["reason"], registry=r
        )
        self.snapshots_consumed = Counter(
            "gateway_snapshots_consumed", "Snapshots read from campaign-stats", registry=r
        )
        self.snapshots_invalid = Counter(
            "gateway_snapshots_invalid", "campaign-stats records that did not decode", registry=r
        )
        self.campaigns = Gauge("gateway_campaigns", "Campaigns with a snapshot held", registry=r)

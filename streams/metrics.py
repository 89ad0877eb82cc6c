"""Prometheus metrics of the worker (served on ``WORKER_PORT`` at ``/metrics``)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry()

EVENTS = Counter(
    "tickstream_worker_events_total", "ack events and dispatches joined", registry=REGISTRY
)
BAD_RECORDS = Counter(
    "tickstream_worker_bad_records_total",
    "records that could not be decoded, kept in worker-dlq and skipped",
    ["topic"],
    registry=REGISTRY,
)
PARTIALS = Counter(
    "tickstream_worker_partials_total", "campaign partials sent to stage 2", registry=REGISTRY
)
SNAPSHOTS = Counter(
    "tickstream_worker_snapshots_total", "snapshots written to campaign-stats", registry=REGISTRY
)
SNAPSHOT_LAG = Histogram(
    "tickstream_worker_snapshot_lag_seconds",
    "from a window's end to its snapshot being on the topic",
    buckets=(0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 2.0, 5.0, 10.0),
    registry=REGISTRY,
)
TRACKED_MESSAGES = Gauge(
    "tickstream_worker_tracked_messages",
    "messages in the local state at the last recovery",
    registry=REGISTRY,
)
RECORD_AGE = Histogram(
    "tickstream_worker_record_age_seconds",
    "from a source record's append to Kafka to the worker processing it (how far behind it is)",
    ["stage"],
    buckets=(0.01, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0),
    registry=REGISTRY,
)

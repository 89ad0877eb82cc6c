"""The sink's Prometheus metrics, in a registry of their own so that several sinks (tests) can live
in one process without clashing.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class SinkMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = r = registry or CollectorRegistry()
        self.records = Counter("sink_records", "Kafka records consumed", ["topic"], registry=r)
        self.committed = Counter(
            "sink_records_committed",
            "Kafka records written (or dead-lettered) whose offsets are committed",
            registry=r,
        )
        self.rows = Counter("sink_rows_written", "rows upserted, per table", ["table"], registry=r)
        self.batches = Counter("sink_batches", "batches committed to PostgreSQL", registry=r)
        self.batch_seconds = Histogram(
            "sink_batch_seconds",
            "from a batch's first record to its offset commit (the latency the sink adds)",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=r,
        )
        self.dead_letters = Counter(
            "sink_dead_letters", "records sent to the dead-letter topic", registry=r
        )
        self.db_errors = Counter(
            "sink_db_errors", "failed batch writes (retried with backoff)", registry=r
        )
        self.paused = Gauge(
            "sink_paused", "1 while consumption is paused for a database outage", registry=r
        )
        self.buffered_rows = Gauge("sink_buffered_rows", "rows waiting to be written", registry=r)

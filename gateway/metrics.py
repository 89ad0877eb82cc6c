"""Prometheus metrics of one gateway instance, in a registry of its own (several apps may run
in one process, as in tests)."""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Iterator, Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.core import HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class LatencyHistogram(Collector):
    """A Prometheus histogram that takes one fan-out's latencies in a single call.

    ``prometheus_client.Histogram.observe`` takes a lock and walks the buckets in Python, a few
    µs that a fan-out to 10,000 clients would pay 10,000 times per snapshot. Here a fan-out only
    notes the time of each write and hands the list over once (:meth:`observe_writes`); the
    exposed series (``_bucket``, ``_count``, ``_sum``) are the same as a ``Histogram``'s. Fed
    and collected on the event loop's thread only, so it needs no lock.
    """

    def __init__(
        self, name: str, documentation: str, buckets: Sequence[float], registry: CollectorRegistry
    ) -> None:
        self._name = name
        self._documentation = documentation
        self._bounds = tuple(buckets)
        self._counts = [0] * (len(self._bounds) + 1)  # the last one is +Inf
        self._sum = 0.0
        registry.register(self)

    def observe(self, seconds: float) -> None:
        self._counts[bisect_left(self._bounds, seconds)] += 1
        self._sum += seconds

    def observe_writes(self, since: float, written_at: list[float]) -> None:
        """One observation ``t - since`` per time ``t`` in ``written_at``."""
        times = sorted(written_at)  # already in order, unless the wall clock stepped back
        below = 0
        for i, bound in enumerate(self._bounds):
            upto = bisect_right(times, since + bound)
            self._counts[i] += upto - below
            below = upto
        self._counts[-1] += len(times) - below
        self._sum += math.fsum(times) - since * len(times)

    def collect(self) -> Iterator[Metric]:
        family = HistogramMetricFamily(self._name, self._documentation)
        cumulative, buckets = 0, []
        for bound, count in zip((*self._bounds, math.inf), self._counts, strict=True):
            cumulative += count
            buckets.append((floatToGoString(bound), float(cumulative)))
        family.add_metric([], buckets, self._sum)
        yield family


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
        self.push_latency = LatencyHistogram(
            "gateway_push_latency_seconds",
            "From a snapshot or event reaching the gateway to its frame being written to a client",
            LATENCY_BUCKETS,
            r,
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

"""The gateway's push-latency histogram, fed once per fan-out, exposes exactly what a
``prometheus_client.Histogram`` fed once per frame would."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Histogram, generate_latest

from gateway.metrics import LATENCY_BUCKETS, LatencyHistogram

NAME = "gateway_push_latency_seconds"
latencies = st.lists(st.floats(0.0, 20.0, allow_nan=False) | st.sampled_from(LATENCY_BUCKETS))


def samples(registry: CollectorRegistry) -> dict[str, float]:
    """``{sample line name with labels: value}`` of the histogram, ``_created`` left out."""
    found = {}
    for line in generate_latest(registry).decode().splitlines():
        if line.startswith(NAME) and "_created" not in line:
            name, value = line.rsplit(" ", 1)
            found[name] = float(value)
    return found


@given(latencies, latencies, st.floats(1.7e9, 1.9e9))
def test_fanout_histogram_matches_a_per_frame_histogram(
    fanned_out: list[float], single: list[float], since: float
) -> None:
    ours_registry, reference_registry = CollectorRegistry(), CollectorRegistry()
    ours = LatencyHistogram(NAME, "doc", LATENCY_BUCKETS, ours_registry)
    reference = Histogram(NAME, "doc", buckets=LATENCY_BUCKETS, registry=reference_registry)
    # a fan-out hands over write times; latencies are measured from ``since``
    ours.observe_writes(since, [since + x for x in fanned_out])
    for x in single:
        ours.observe(x)
    for x in [*fanned_out, *single]:
        reference.observe(x)
    got, want = samples(ours_registry), samples(reference_registry)
    assert got.keys() == want.keys()
    for name, value in want.items():
        if name.endswith("_sum"):
            # write times are wall-clock floats near 1.8e9 s: their ulp (≈ 2e-7 s) per frame
            assert got[name] == pytest.approx(value, abs=1e-6 * (1 + len(fanned_out)))
        else:
            # a latency a hair from a bound may fall on either side after the clock offset
            near = sum(min(abs(x - b) for b in LATENCY_BUCKETS) < 1e-6 for x in fanned_out)
            assert abs(got[name] - value) <= near, name


def test_write_times_out_of_order_still_count_each_once() -> None:
    """A wall-clock step back during a fan-out must not lose or double an observation."""
    registry = CollectorRegistry()
    hist = LatencyHistogram(NAME, "doc", LATENCY_BUCKETS, registry)
    hist.observe_writes(100.0, [100.3, 100.0005, 112.0, 100.04])
    got = samples(registry)
    assert got[f"{NAME}_count"] == 4
    assert got[f'{NAME}_bucket{{le="0.001"}}'] == 1
    assert got[f'{NAME}_bucket{{le="0.05"}}'] == 2
    assert got[f'{NAME}_bucket{{le="0.5"}}'] == 3
    assert got[f'{NAME}_bucket{{le="10.0"}}'] == 3
    assert got[f'{NAME}_bucket{{le="+Inf"}}'] == 4
    assert got[f"{NAME}_sum"] == pytest.approx(0.3 + 0.0005 + 12.0 + 0.04)

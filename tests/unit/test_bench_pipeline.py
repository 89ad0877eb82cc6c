"""The end-to-end benchmark's latency arithmetic (pure): an ack counts as seen at the first
snapshot whose campaign counter reaches its place in the acceptance order."""

from __future__ import annotations

import math

from tickstream.bench.measure import percentiles
from tickstream.bench.pipeline import Load, count_latencies, weighted


def test_each_request_is_seen_when_the_counter_reaches_it() -> None:
    accepted = {0: [(1.0, 10), (2.0, 10)], 1: [(1.5, 5)]}
    seen = {0: [(1.4, 4), (1.6, 10), (3.0, 20)], 1: [(2.5, 5)]}
    result = sorted((round(latency, 6), acks) for latency, acks in count_latencies(accepted, seen))
    assert result == [(0.6, 10), (1.0, 5), (1.0, 10)]


def test_a_lower_count_seen_later_does_not_undo_an_earlier_one() -> None:
    # a reconnect may replay an older snapshot: the running maximum is what counts
    accepted = {0: [(0.0, 10)]}
    seen = {0: [(1.0, 10), (2.0, 3)]}
    assert count_latencies(accepted, seen) == [(1.0, 10)]


def test_acks_never_seen_are_left_out_not_invented() -> None:
    assert count_latencies({0: [(0.0, 10)]}, {0: [(1.0, 9)]}) == []


def test_percentiles_weigh_each_ack() -> None:
    p50, p95, p99 = percentiles(weighted([(1.0, 90), (5.0, 10)]), 0.5, 0.95, 0.99)
    assert (p50, p95, p99) == (1.0, 5.0, 5.0)


def test_no_latencies_give_no_figures_rather_than_an_error() -> None:
    assert all(math.isnan(p) for p in percentiles([], 0.5, 0.99))


def test_batches_interleave_campaigns_and_cover_every_message() -> None:
    load = Load("t", 3, 5)
    chunks = load.batches(2)
    assert [c for c, _ in chunks[:3]] == [0, 1, 2]
    ids = [m for _, batch in chunks for m in batch]
    assert sorted(ids) == sorted(load.message(c, m) for c in range(3) for m in range(5))

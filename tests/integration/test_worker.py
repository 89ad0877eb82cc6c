"""The worker against the real broker, as a real process: exact counts whatever the order."""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.topics import Topics
from tests.integration.pipeline import SnapshotReader, service_env, start_service, stop
from tickstream.workload import campaign_events, oracle, produce_events

pytestmark = pytest.mark.integration


def test_counts_equal_the_oracle(
    kafka_bootstrap: str, topics: Topics, group_id: str, tmp_path: Path
) -> None:
    events = campaign_events(20, 2_000, seed=7)
    expected = oracle(events)
    # acks before their dispatch: half the events go in before the worker even starts
    half = len(events) // 2
    produce_events(kafka_bootstrap, topics, events[:half])
    worker = start_service("streams", service_env(kafka_bootstrap, topics), tmp_path / "w.log")
    reader = SnapshotReader(kafka_bootstrap, topics, group_id)
    try:
        produce_events(kafka_bootstrap, topics, events[half:])
        got = reader.wait_for(expected, timeout=180)
    finally:
        stop(worker)
        reader.close()
    assert got == expected
    # every snapshot's seq of a campaign grows
    seqs: dict[str, list[int]] = {}
    for snap in reader.all:
        seqs.setdefault(snap.campaign_id, []).append(snap.seq)
    assert all(s == sorted(s) and len(s) == len(set(s)) for s in seqs.values())

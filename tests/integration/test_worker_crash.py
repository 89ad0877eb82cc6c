"""SIGKILL at random moments loses nothing and counts nothing twice."""

from __future__ import annotations

import os
import random
import signal
import time
from pathlib import Path

import pytest

from contract.topics import Topics
from tests.integration.pipeline import SnapshotReader, service_env, start_service, stop
from tickstream.workload import campaign_events, oracle, produce_events

pytestmark = pytest.mark.integration


def test_sigkill_during_a_run_keeps_counts_exact(
    kafka_bootstrap: str, topics: Topics, group_id: str, tmp_path: Path
) -> None:
    events = campaign_events(8, 4_000, seed=11, skip_share=0.06)
    assert len(events) >= 100_000
    expected = oracle(events)
    rng = random.Random(5)
    env = service_env(kafka_bootstrap, topics)
    chunks = [events[i::5] for i in range(5)]
    reader = SnapshotReader(kafka_bootstrap, topics, group_id)
    worker = start_service("streams", env, tmp_path / "worker.log")
    kills = 0
    try:
        for i, chunk in enumerate(chunks):
            produce_events(kafka_bootstrap, topics, chunk)
            if i < 4:
                time.sleep(rng.uniform(1.0, 6.0))  # somewhere in the middle of processing
                stop(worker, signal.SIGKILL)
                kills += 1
                worker = start_service("streams", env, tmp_path / "worker.log")
        got = reader.wait_for(expected, timeout=300)
    finally:
        stop(worker)
        reader.close()
    assert kills >= 3
    assert got == expected


def test_survivor_takes_over_a_killed_workers_partitions(
    kafka_bootstrap: str, topics: Topics, group_id: str, tmp_path: Path
) -> None:
    events = campaign_events(6, 2_000, seed=23)
    expected = oracle(events)
    first = start_service("streams", service_env(kafka_bootstrap, topics), tmp_path / "a.log")
    second = start_service("streams", service_env(kafka_bootstrap, topics), tmp_path / "b.log")
    reader = SnapshotReader(kafka_bootstrap, topics, group_id)
    try:
        time.sleep(8)  # both have joined the group and share the partitions
        produce_events(kafka_bootstrap, topics, events[: len(events) // 2])
        time.sleep(2)
        stop(second, signal.SIGKILL)
        produce_events(kafka_bootstrap, topics, events[len(events) // 2 :])
        got = reader.wait_for(expected, timeout=240)
        if got != expected and first.poll() is None:
            os.killpg(first.pid, signal.SIGUSR1)  # the survivor dumps its tasks into a.log
            time.sleep(3)
    finally:
        stop(first)
        stop(second)
        reader.close()
    assert got == expected

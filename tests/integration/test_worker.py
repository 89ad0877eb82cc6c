"""The worker against the real broker, as a real process: exact counts whatever the order."""

from __future__ import annotations

import json
import re
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import pytest

from contract.events import Dispatch, skip_message_id
from contract.topics import Topics
from tests.integration.pipeline import SnapshotReader, service_env, start_service, stop
from tickstream.simulator.oracle import oracle
from tickstream.simulator.workload import (
    campaign_events,
    produce_events,
    produce_registrations,
    registrations,
)

pytestmark = pytest.mark.integration

DROPPED = re.compile(r"dropped the state of (\d+) expired messages")
HOLDS = re.compile(r"stage 1 holds partitions \[[^\]]*\] with (\d+) messages")


def test_counts_equal_the_oracle(
    kafka_bootstrap: str, topics: Topics, group_id: str, tmp_path: Path
) -> None:
    events = campaign_events(20, 2_000, seed=7, skip_share=0.06)
    expected = oracle(events)
    # acks before their dispatch: half the events go in before the worker even starts
    half = len(events) // 2
    produce_events(kafka_bootstrap, topics, events[:half])
    env = service_env(kafka_bootstrap, topics)
    worker = start_service("streams", env, tmp_path / "w.log")
    reader = SnapshotReader(kafka_bootstrap, topics, group_id)
    try:
        produce_events(kafka_bootstrap, topics, events[half:])
        got = reader.wait_for(expected, timeout=180)
        url = f"http://127.0.0.1:{env['WORKER_PORT']}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            metrics = response.read().decode()
        readyz = f"http://127.0.0.1:{env['WORKER_PORT']}/readyz"
        with urllib.request.urlopen(readyz, timeout=5) as response:
            readiness = json.load(response)
    finally:
        stop(worker)
        reader.close()
    assert got == expected
    assert readiness == {"status": "ready"}  # counting, its tables read to their end
    # both stages report how far behind they are (record age), with records observed
    for stage in ("1", "2"):
        observed = re.search(
            rf'^tickstream_worker_record_age_seconds_count{{stage="{stage}"}} (\S+)$', metrics, re.M
        )
        total = re.search(
            rf'^tickstream_worker_record_age_seconds_sum{{stage="{stage}"}} (\S+)$', metrics, re.M
        )
        assert observed is not None and float(observed.group(1)) > 0, stage
        assert total is not None and float(total.group(1)) >= 0, stage
    # every snapshot's seq of a campaign grows
    seqs: dict[str, list[int]] = {}
    for snap in reader.all:
        seqs.setdefault(snap.campaign_id, []).append(snap.seq)
    assert all(s == sorted(s) and len(s) == len(set(s)) for s in seqs.values())


def test_expired_message_state_is_dropped_and_the_counts_stay(
    kafka_bootstrap: str, topics: Topics, group_id: str, tmp_path: Path
) -> None:
    """State past MESSAGE_RETENTION_DAYS leaves the table (a restart recovers no message), yet
    every campaign keeps its exact counts."""
    events = campaign_events(3, 300, seed=3, start=datetime.now(UTC), skip_share=0.1)
    expected = oracle(events)
    retention = {"MESSAGE_RETENTION_DAYS": "0.0006", "ORPHAN_RETENTION_DAYS": "0.0006"}  # ~52 s
    env = service_env(kafka_bootstrap, topics, **retention)
    log = tmp_path / "worker.log"
    worker = start_service("streams", env, log)
    reader = SnapshotReader(kafka_bootstrap, topics, group_id)
    try:
        produce_events(kafka_bootstrap, topics, events)
        assert reader.wait_for(expected, timeout=120) == expected
        # every message, every skip, and the attempt the worker notes for each dispatched recipient
        states = {event.message_id for event in events} | {
            skip_message_id(event.campaign_id, event.recipient)
            for event in events
            if isinstance(event, Dispatch)
        }
        messages = len(states)
        deadline = time.monotonic() + 240
        while sum(map(int, DROPPED.findall(log.read_text()))) < messages:
            assert time.monotonic() < deadline, "expired message state was not dropped"
            time.sleep(1)
        stop(worker)  # SIGTERM: Faust flushes the producer, the last deletes are on the topic
        worker = start_service("streams", env, log)
        deadline = time.monotonic() + 120
        while len(HOLDS.findall(log.read_text())) < 2:  # the restarted worker recovered
            assert time.monotonic() < deadline, "the restarted worker did not recover"
            time.sleep(1)
        assert HOLDS.findall(log.read_text())[-1] == "0", "the restarted worker kept state"
        # a registration earns every campaign a fresh snapshot, computed from the retired counts
        produce_registrations(
            kafka_bootstrap,
            topics,
            registrations(expected, {c: f"w{int(c[1:]) % 3}" for c in expected}, total=300),
        )
        seen = len(reader.all)
        deadline = time.monotonic() + 60
        while len(reader.all) < seen + len(expected) and time.monotonic() < deadline:
            reader.poll(1.0)
    finally:
        stop(worker)
        reader.close()
    assert reader.counts() == expected

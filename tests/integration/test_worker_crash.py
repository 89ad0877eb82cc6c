"""SIGKILL at random moments loses nothing and counts nothing twice; a restarted worker resumes
from its state on disk, and a survivor takes over from its warm standby, both reading only the
changelog's tail."""

from __future__ import annotations

import os
import random
import re
import signal
import time
from pathlib import Path

import pytest

from contract.topics import Topics
from tests.integration.pipeline import SnapshotReader, service_env, start_service, stop
from tickstream.simulator.oracle import oracle
from tickstream.simulator.workload import campaign_events, produce_events

pytestmark = pytest.mark.integration

ACTIVE = re.compile(
    r"table messages: partition (\d+) active at changelog offset (-?\d+|None), "
    r"(\d+) records read since the rebalance"
)
HOLDS = re.compile(r"stage 1 holds partitions \[([^\]]*)\]")
UNSENT = re.compile(r"stage 1 holds partitions .*; (\d+) partials to send again")


def activations(log: Path) -> list[tuple[int, int, int]]:
    """(partition, changelog offset, records read to get there) each time a partition became
    active, in order."""
    return [
        (int(p), -1 if offset == "None" else int(offset), int(read))
        for p, offset, read in ACTIVE.findall(log.read_text())
    ]


def read_only_a_tail(offset: int, read: int) -> bool:
    """Far fewer records read than the partition's changelog holds (a full restore reads all)."""
    return offset < 1_000 or read <= offset // 2


def test_sigkill_during_a_run_keeps_counts_exact(
    kafka_bootstrap: str, topics: Topics, group_id: str, tmp_path: Path
) -> None:
    events = campaign_events(8, 4_000, seed=11, skip_share=0.06)
    assert len(events) >= 100_000
    expected = oracle(events)
    rng = random.Random(5)
    env = service_env(kafka_bootstrap, topics, STATE_DIR=str(tmp_path / "state"))
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
    # every restart resumed from the disk: the changelog's tail, never all of it
    restarts = activations(tmp_path / "worker.log")[topics.partitions :]
    assert restarts and all(read_only_a_tail(offset, read) for _, offset, read in restarts)


def test_a_restart_after_sigterm_sends_no_partial_again(
    kafka_bootstrap: str, topics: Topics, group_id: str, tmp_path: Path
) -> None:
    """Every partial the stopped worker sent is marked on disk, so the restarted one sends only
    what changes from then on, and stage 2 still counts exactly."""
    events = campaign_events(6, 2_000, seed=41, skip_share=0.05)
    first, rest = events[: len(events) // 2], events[len(events) // 2 :]
    env = service_env(kafka_bootstrap, topics, STATE_DIR=str(tmp_path / "state"))
    reader = SnapshotReader(kafka_bootstrap, topics, group_id)
    worker = start_service("streams", env, tmp_path / "before.log")
    try:
        produce_events(kafka_bootstrap, topics, first)
        reader.wait_for(oracle(first), timeout=180)
        stop(worker, signal.SIGTERM)
        worker = start_service("streams", env, tmp_path / "after.log")
        produce_events(kafka_bootstrap, topics, rest)
        got = reader.wait_for(oracle(events), timeout=180)
    finally:
        stop(worker)
        reader.close()
    assert got == oracle(events)
    unsent = [int(n) for n in UNSENT.findall((tmp_path / "after.log").read_text())]
    assert unsent and unsent[0] == 0, unsent


def test_survivor_takes_over_a_killed_workers_partitions(
    kafka_bootstrap: str, topics: Topics, group_id: str, tmp_path: Path
) -> None:
    events = campaign_events(6, 2_000, seed=23)
    expected = oracle(events)
    state = str(tmp_path / "state")  # one host: each worker takes its own slot in it
    first = start_service(
        "streams", service_env(kafka_bootstrap, topics, STATE_DIR=state), tmp_path / "a.log"
    )
    second = start_service(
        "streams", service_env(kafka_bootstrap, topics, STATE_DIR=state), tmp_path / "b.log"
    )
    reader = SnapshotReader(kafka_bootstrap, topics, group_id)
    try:
        time.sleep(8)  # both have joined the group and share the partitions
        produce_events(kafka_bootstrap, topics, events[: len(events) // 2])
        # both have counted the first half: their partitions' changelogs hold it
        reader.wait_for(oracle(events[: len(events) // 2]), timeout=120)
        time.sleep(1)
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
    # the survivor followed the killed worker's partitions as a standby: taking them over read
    # only the changelog's tail
    held = [
        set(map(int, found.split(", ")))
        for found in HOLDS.findall((tmp_path / "a.log").read_text())
        if found
    ]
    taken = held[-1] - held[-2]
    assert taken, held
    last = {
        partition: (offset, read) for partition, offset, read in activations(tmp_path / "a.log")
    }
    assert all(read_only_a_tail(*last[partition]) for partition in taken), last
    assert any(last[partition][0] >= 500 for partition in taken), last

"""A worker on a new host (empty STATE_DIR) rebuilds its tables from the changelogs alone, through
the store's own batched reading, and counts on exactly."""

from __future__ import annotations

import re
import signal
from pathlib import Path

import pytest

from contract.topics import Topics
from tests.integration.pipeline import SnapshotReader, service_env, start_service, stop
from tickstream.simulator.oracle import oracle
from tickstream.simulator.workload import campaign_events, produce_events

pytestmark = pytest.mark.integration

RESTORED = re.compile(r"table messages: partitions \[([^\]]*)\]: read (\d+) changelog records")
ACTIVE = re.compile(r"table messages: partition (\d+) active at changelog offset (-?\d+|None)")


def test_a_cold_restore_reproduces_the_counts(
    kafka_bootstrap: str, topics: Topics, group_id: str, tmp_path: Path
) -> None:
    events = campaign_events(6, 3_000, seed=31, skip_share=0.06)
    first, rest = events[: len(events) * 3 // 5], events[len(events) * 3 // 5 :]
    reader = SnapshotReader(kafka_bootstrap, topics, group_id)
    old_host = service_env(kafka_bootstrap, topics, STATE_DIR=str(tmp_path / "old"))
    worker = start_service("streams", old_host, tmp_path / "old.log")
    try:
        produce_events(kafka_bootstrap, topics, first)
        assert reader.wait_for(oracle(first), timeout=180) == oracle(first)
        stop(worker, signal.SIGKILL)
        new_host = dict(old_host, STATE_DIR=str(tmp_path / "new"))
        worker = start_service("streams", new_host, tmp_path / "new.log")
        # the rest, and a third of what came before again: a restored state that lacked any
        # message would count its repeated events, or miss the acks of its dispatch
        produce_events(kafka_bootstrap, topics, rest + first[::3])
        got = reader.wait_for(oracle(events), timeout=240)
    finally:
        stop(worker)
        reader.close()
    assert got == oracle(events)
    log = (tmp_path / "new.log").read_text()
    restored = RESTORED.findall(log)
    assert restored, "the store did not read the changelogs itself"
    partitions, records = restored[0]
    assert partitions == ", ".join(str(p) for p in range(topics.partitions))
    # every message state of the first part came back, and reached each changelog's end
    assert int(records) >= len({event.message_id for event in first})
    assert all(offset != "None" for _, offset in ACTIVE.findall(log)[: topics.partitions])

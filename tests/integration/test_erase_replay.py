"""A sink that reads ``message-status`` again from the beginning after ``tickstream erase`` (a new
consumer group, as after a reset; docs/operations.md, "Erasure"): a real broker, worker, sink and
PostgreSQL.

The records from before the erasure still name the number. The rows the command erased keep
``erased``, which the upsert never clears, so no message row gets the number back; the number's
skip rows do come back (their id is the number, nothing can mark them), and running the command
again deletes them.
"""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from contract.events import Skip
from contract.settings import DatabaseSettings
from contract.topics import Topics
from sink.migrate import upgrade
from sink.settings import SinkSettings
from tests.integration.pipeline import SnapshotReader, service_env, start_service, stop
from tests.integration.test_erase import (
    DISPATCHES,
    ERASE_COMMAND,
    NUMBER,
    OTHER,
    PIPELINE_TIMEOUT,
    WORKSPACE_OF,
    database,
    events_before,
    rows,
    wait_until,
)
from tests.integration.test_sink_pipeline import running_sink, wait_caught_up
from tickstream.infra.ports import free_port
from tickstream.simulator.oracle import oracle
from tickstream.simulator.workload import produce_events, produce_registrations, registrations

pytestmark = pytest.mark.integration


def erase(env: dict[str, str], home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*ERASE_COMMAND, "--timeout", str(PIPELINE_TIMEOUT)],
        env={**env, "TICKSTREAM_HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=PIPELINE_TIMEOUT + 60,
    )


def test_a_sink_reading_the_statuses_again_brings_no_message_row_its_number_back(
    kafka_bootstrap: str,
    database_url: str,
    settings: DatabaseSettings,
    topics: Topics,
    group_id: str,
    tmp_path: Path,
) -> None:
    upgrade(database_url)
    before = events_before(datetime.now(UTC))
    expected = oracle(before)
    env = service_env(
        kafka_bootstrap,
        topics,
        DATABASE_URL=database_url,
        SINK_PORT=str(free_port()),
        STATE_DIR=str(tmp_path / "state"),
        WORKER_DATA_DIR=str(tmp_path / "worker"),
    )
    worker = start_service("streams", env, tmp_path / "worker.log")
    sink = start_service("sink", env, tmp_path / "sink.log")
    reader = SnapshotReader(kafka_bootstrap, topics, group_id)
    message_ids = {m for m, _, _ in DISPATCHES}
    skip_ids = {e.message_id for e in before if isinstance(e, Skip)}
    number_skips = {
        e.message_id
        for e in before
        if isinstance(e, Skip) and (e.recipient, e.workspace_id) == (NUMBER, "w1")
    }
    try:
        with database(database_url) as engine:
            produce_registrations(
                kafka_bootstrap, topics, registrations(WORKSPACE_OF, WORKSPACE_OF, total=3)
            )
            produce_events(kafka_bootstrap, topics, before)
            assert reader.wait_for(expected, PIPELINE_TIMEOUT) == expected
            wait_until(lambda: set(rows(engine)) == message_ids | skip_ids, "every row")

            erased = erase(env, tmp_path / "home")
            assert erased.returncode == 0, erased.stdout + erased.stderr
            assert "2 rows blanked, 2 skip rows deleted" in erased.stdout
            assert set(rows(engine)) == (message_ids | skip_ids) - number_skips

            # Every record of message-status again, each written alone: the records from before
            # the erasure are never merged in one batch with the erased ones the worker wrote
            # after it, as in a replay of a long topic.
            replay = SinkSettings.carrying(settings, sink_batch_records=1)
            with running_sink(replay, f"{group_id}-replay"):
                wait_caught_up(kafka_bootstrap, f"{group_id}-replay", topics)
            replayed = rows(engine)

            again = erase(env, tmp_path / "home-again")
            assert again.returncode == 0, again.stdout + again.stderr
            table = rows(engine)
    finally:
        stop(worker)
        stop(sink)
        reader.close()

    # the message rows stay erased; the skip rows, which cannot carry the flag, are back
    assert set(replayed) == message_ids | skip_ids
    assert (replayed["m-erase"].recipient, replayed["m-erase"].erased) == ("", True)
    assert replayed["m-erase"].status == "read"
    assert (replayed["m-group"].recipient, replayed["m-group"].participants) == ("", {})
    assert replayed["m-group"].erased
    assert (replayed["m-other"].recipient, replayed["m-other"].erased) == (OTHER, False)
    assert replayed["m-w2"].recipient == NUMBER  # another workspace's message keeps it
    for message_id in message_ids:
        assert replayed[message_id] == table[message_id]
    assert {i for i, row in replayed.items() if row.recipient == NUMBER} == number_skips | {"m-w2"}

    # running the command again deletes them, and nothing else needs it
    assert "0 rows blanked, 2 skip rows deleted" in again.stdout
    assert set(table) == (message_ids | skip_ids) - number_skips
    for message_id, row in table.items():
        if row.workspace_id == "w1":
            assert NUMBER not in message_id and row.recipient != NUMBER, row
            assert NUMBER not in row.participants, row

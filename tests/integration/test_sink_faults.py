"""Crashes, outages and rebalances lose nothing and count nothing twice: the sink SIGKILLed in
the middle of a batch, PostgreSQL restarted under a running sink, sinks joining and leaving the
group, and a record PostgreSQL itself refuses.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from contract.events import CampaignRegistration, decode_dead_letter
from contract.settings import DatabaseSettings
from contract.topics import Topics
from sink.lag import group_lag
from sink.migrate import upgrade
from sink.service import default_group_id
from sink.settings import SinkSettings
from tests.integration.test_sink_pipeline import (
    T0,
    check_snapshots,
    consume_all,
    dump,
    expected_statuses,
    pack,
    produce_registrations,
    produce_snapshots,
    produce_statuses,
    running_sink,
    snapshot_records,
    source_topics,
    status_records,
    wait_caught_up,
)
from tickstream.infra.ports import free_port
from tickstream.infra.postgres import PostgresCluster
from tickstream.state_dir import PROJECT_ROOT

pytestmark = pytest.mark.integration

ACTIVE_STATUS_INSERT = (
    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
    "AND state = 'active' AND query LIKE 'INSERT INTO message_status%'"
)


def start_sink(settings: DatabaseSettings, port: int, log: Path) -> subprocess.Popen[bytes]:
    """``python -m sink --migrate`` configured only through its environment, as in production."""
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "DATABASE_URL": settings.database_url,
        "TOPIC_PREFIX": settings.topic_prefix,
        "TOPIC_PARTITIONS": str(settings.topic_partitions),
        "SINK_PORT": str(port),
        "SINK_BATCH_RECORDS": "2000",
        "SINK_BATCH_MS": "100",
    }
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "sink", "--migrate"],
            env=env,
            cwd=PROJECT_ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def wait_http(url: str, timeout: float = 30.0) -> tuple[int, bytes]:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return get(url)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_sigkill_in_the_middle_of_a_batch_then_restart_gives_exact_tables(
    settings: DatabaseSettings, topics: Topics, database_url: str, tmp_path: Path
) -> None:
    bootstrap = settings.kafka_bootstrap
    group = default_group_id(SinkSettings.carrying(settings))
    rng = random.Random(21)
    statuses = status_records(rng, 20_000)
    snapshots = snapshot_records(rng, [("c0", "w0"), ("c1", "w1")])
    produce_snapshots(bootstrap, topics, snapshots)
    produce_statuses(bootstrap, topics, pack(rng, statuses))
    log = tmp_path / "sink.log"

    first = start_sink(settings, free_port(), log)
    try:
        # Kill while the sink's status INSERT is running: its transaction dies half done.
        engine = sa.create_engine(database_url)
        caught = False
        deadline = time.monotonic() + 60
        with engine.connect() as conn:
            while time.monotonic() < deadline and first.poll() is None:
                if conn.execute(sa.text(ACTIVE_STATUS_INSERT)).scalar():
                    caught = True
                    break
                conn.rollback()
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        engine.dispose()
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()  # reaped, not left running (a ResourceWarning) when the test failed early
    assert caught, log.read_text()
    assert first.returncode == -signal.SIGKILL
    behind = group_lag(bootstrap, group, source_topics(topics))
    assert behind > 0, "the sink had already finished: the kill proved nothing"

    port = free_port()
    second = start_sink(settings, port, log)
    try:
        wait_caught_up(bootstrap, group, topics)
        status, body = wait_http(f"http://127.0.0.1:{port}/healthz")
        assert status == 200 and json.loads(body)["status"] == "ok"
        status, body = get(f"http://127.0.0.1:{port}/readyz")
        assert status == 200 and json.loads(body) == {"status": "ready"}
        status, body = get(f"http://127.0.0.1:{port}/metrics")
        assert status == 200 and b'sink_rows_written_total{table="message_status"}' in body
    finally:
        second.send_signal(signal.SIGTERM)
        assert second.wait(30) == 0, log.read_text()  # graceful: flushed, committed, left

    tables = dump(database_url)
    assert tables["message_status"] == expected_statuses(statuses)
    check_snapshots(tables, snapshots)


@pytest.fixture
def own_postgres() -> Iterator[PostgresCluster]:
    """A cluster of this test's own, since the test stops and restarts it."""
    base = Path(tempfile.mkdtemp(dir="/tmp", prefix="tickstream-sink-pg-"))
    base.chmod(0o755)
    cluster = PostgresCluster(base)
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(base, ignore_errors=True)


def test_postgresql_restarted_during_a_run_loses_and_duplicates_nothing(
    settings: DatabaseSettings, topics: Topics, group_id: str, own_postgres: PostgresCluster
) -> None:
    url = own_postgres.url()
    upgrade(url)
    settings = SinkSettings.carrying(
        settings, database_url=url, sink_batch_records=1000, sink_batch_ms=50
    )
    bootstrap = settings.kafka_bootstrap
    rng = random.Random(8)
    waves = [status_records(rng, 2000, prefix=f"wave{n}-") for n in range(3)]
    # the second wave repeats some of the first: merged, not duplicated
    waves[1] += rng.sample(waves[0], 500)
    snapshots = snapshot_records(rng, [("c0", "w0"), ("c1", "w1")])
    thirds = [snapshots[n::3] for n in range(3)]

    with running_sink(settings, group_id) as sink:
        produce_statuses(bootstrap, topics, pack(rng, waves[0]))
        produce_snapshots(bootstrap, topics, thirds[0])
        wait_caught_up(bootstrap, group_id, topics)

        own_postgres.stop()
        produce_statuses(bootstrap, topics, pack(rng, waves[1]))
        produce_snapshots(bootstrap, topics, thirds[1])
        deadline = time.monotonic() + 30
        while not sink.paused and time.monotonic() < deadline:
            time.sleep(0.1)
        assert sink.paused, "the sink did not notice PostgreSQL was down"
        assert not sink.ready()  # its /readyz answers 503 meanwhile
        time.sleep(2)  # a few failed retries, with backoff
        assert group_lag(bootstrap, group_id, source_topics(topics)) > 0  # nothing committed

        own_postgres.start_again()
        produce_statuses(bootstrap, topics, pack(rng, waves[2]))
        produce_snapshots(bootstrap, topics, thirds[2])
        wait_caught_up(bootstrap, group_id, topics)
        assert not sink.paused and sink.ready()
        assert (sink.metrics.registry.get_sample_value("sink_db_errors_total") or 0) > 0

    tables = dump(url)
    assert tables["message_status"] == expected_statuses([s for wave in waves for s in wave])
    check_snapshots(tables, snapshots)


def test_sinks_joining_and_leaving_the_group_lose_nothing(
    settings: DatabaseSettings, topics: Topics, database_url: str, group_id: str
) -> None:
    """Rebalances move partitions while batches are buffered and in flight."""
    upgrade(database_url)
    settings = SinkSettings.carrying(settings, sink_batch_records=500, sink_batch_ms=50)
    bootstrap = settings.kafka_bootstrap
    rng = random.Random(13)
    waves = [status_records(rng, 3000, prefix=f"r{n}-") for n in range(3)]
    with contextlib.ExitStack() as later:
        with running_sink(settings, group_id) as first:
            produce_statuses(bootstrap, topics, pack(rng, waves[0]))
            second = later.enter_context(running_sink(settings, group_id))
            produce_statuses(bootstrap, topics, pack(rng, waves[1]))
            deadline = time.monotonic() + 60
            while not (first.assigned and second.assigned) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert first.assigned and second.assigned, "the group never shared its partitions"
        # the first sink has left: the second takes every partition
        produce_statuses(bootstrap, topics, pack(rng, waves[2]))
        wait_caught_up(bootstrap, group_id, topics)
    tables = dump(database_url)
    assert tables["message_status"] == expected_statuses([s for wave in waves for s in wave])


def test_a_record_postgresql_refuses_is_dead_lettered_and_its_batch_written(
    settings: DatabaseSettings, topics: Topics, database_url: str, group_id: str
) -> None:
    """A constraint the decoder knows nothing of (a later schema, say) refuses one record."""
    upgrade(database_url)
    engine = sa.create_engine(database_url)
    with engine.begin() as conn:
        conn.execute(sa.text("ALTER TABLE campaigns ADD CONSTRAINT no_evil CHECK (name <> 'evil')"))
    engine.dispose()
    settings = SinkSettings.carrying(settings, sink_batch_ms=1000)  # one batch for all three
    registrations = [
        CampaignRegistration(campaign_id=c, workspace_id="w1", name=name, received_at=T0)
        for c, name in (("c1", "good"), ("c2", "evil"), ("c3", "fine"))
    ]
    produce_registrations(settings.kafka_bootstrap, topics, registrations)
    with running_sink(settings, group_id):
        wait_caught_up(settings.kafka_bootstrap, group_id, topics)
    names = [(c["campaign_id"], c["name"]) for c in dump(database_url)["campaigns"]]
    assert names == [("c1", "good"), ("c3", "fine")]
    letters = [
        decode_dead_letter(v) for v in consume_all(settings.kafka_bootstrap, topics.sink_dlq, 1)
    ]
    assert len(letters) == 1
    assert letters[0].reason.startswith("PostgreSQL refused the record")
    assert "no_evil" in letters[0].reason
    assert letters[0].topic == topics.campaign_events

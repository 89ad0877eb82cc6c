"""``tickstream erase`` against the real pipeline: a real broker, worker, sink and PostgreSQL.

A number's messages (one sent to it, one group message it took part in) and its skips are
counted and written; the command erases the number in one workspace; then a late ack and a
replayed dispatch arrive. PostgreSQL must hold no row naming the number nor any id holding it,
the worker's state (its changelog, as any restore reads it, and its RocksDB) must not hold it,
the statuses the worker writes after the erasure must not name it, another workspace's message to
the same number must keep it, and the counts must stay exact, also after a restore from the
changelog alone.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
import pytest
import rocksdict
import sqlalchemy as sa
from confluent_kafka import Consumer, TopicPartition

from contract.events import (
    AckEvent,
    CampaignPartial,
    CampaignRegistration,
    Dispatch,
    Erase,
    MessageEvent,
    MessageStatus,
    MessageStatusBatch,
    Skip,
    decode_event_batch,
    decode_partial,
    decode_status_batch,
    skip_message_id,
)
from contract.partitioning import partition_for
from contract.schema import message_status
from contract.settings import sqlalchemy_url
from contract.status import StatusName
from contract.topics import Topics
from sink.migrate import upgrade
from sink.records import Item, Origin
from sink.service import default_group_id
from sink.settings import SinkSettings
from sink.store import write_batch
from streams.message_state import MessageState
from tests.integration.pipeline import SnapshotReader, service_env, start_service, stop
from tickstream.erase import Offsets, wait_for_pipeline
from tickstream.infra.ports import free_port
from tickstream.simulator.oracle import Expected, oracle
from tickstream.simulator.workload import produce_events, produce_registrations, registrations

pytestmark = pytest.mark.integration

NUMBER = "+4915112345678"
OTHER = "+4915187654321"
GROUP = "120363012345678@g.us"
WORKSPACE_OF = {"c1": "w1", "c2": "w1", "c3": "w2"}
PIPELINE_TIMEOUT = 180.0
ERASE_COMMAND = [sys.executable, "-m", "tickstream", "erase", "--workspace", "w1"]
ERASE_COMMAND += ["--recipient", NUMBER]


def events_before(at: datetime) -> list[MessageEvent]:
    def ack(
        message_id: str, status: StatusName, second: int, recipient: str = "", participant: str = ""
    ) -> AckEvent:
        return AckEvent(
            message_id=message_id,
            status=status,
            received_at=at + timedelta(seconds=second),
            provider="webjs",
            recipient=recipient,
            participant=participant,
        )

    def skip(campaign: str, recipient: str, code: str) -> Skip:
        return Skip(
            message_id=skip_message_id(campaign, recipient),
            campaign_id=campaign,
            workspace_id=WORKSPACE_OF[campaign],
            recipient=recipient,
            received_at=at,
            reason_code=code,
        )

    return [
        skip("c1", NUMBER, "opted_out"),  # then sent after all: "attempted"
        skip("c2", NUMBER, "not_on_whatsapp"),
        skip("c1", OTHER, "invalid_number"),
        *(dispatch(m, c, r, at) for m, c, r in DISPATCHES),
        ack("m-erase", "sent", 1, recipient=NUMBER),
        ack("m-erase", "delivered", 2, recipient=NUMBER),
        ack("m-erase", "read", 3, recipient=NUMBER),
        ack("m-group", "read", 2, participant=NUMBER),
        ack("m-group", "delivered", 2, participant=OTHER),
        ack("m-other", "delivered", 2),
        ack("m-w2", "sent", 1),
    ]


DISPATCHES = [
    ("m-erase", "c1", NUMBER),
    ("m-group", "c1", GROUP),
    ("m-other", "c1", OTHER),
    ("m-w2", "c3", NUMBER),  # another workspace: its number stays
]


def dispatch(message_id: str, campaign: str, recipient: str, at: datetime) -> Dispatch:
    return Dispatch(
        message_id=message_id,
        campaign_id=campaign,
        workspace_id=WORKSPACE_OF[campaign],
        recipient=recipient,
        dispatched_at=at,
        received_at=at,
    )


def late_events(at: datetime) -> list[MessageEvent]:
    """A late ack naming the number, a replayed dispatch and a group participant's ack again."""
    later = at + timedelta(seconds=30)
    return [
        AckEvent(message_id="m-erase", status="delivered", received_at=later, recipient=NUMBER),
        dispatch("m-erase", "c1", NUMBER, at),
        AckEvent(message_id="m-group", status="read", received_at=later, participant=NUMBER),
    ]


@contextmanager
def database(url: str) -> Iterator[sa.Engine]:
    engine = sa.create_engine(sqlalchemy_url(url), poolclass=sa.NullPool)
    try:
        yield engine
    finally:
        engine.dispose()


def rows(engine: sa.Engine) -> dict[str, MessageStatus]:
    with engine.connect() as conn:
        found = conn.execute(sa.select(message_status)).mappings().all()
    return {
        row["message_id"]: msgspec.convert(
            {str(column): value for column, value in row.items()}, MessageStatus, strict=False
        )
        for row in found
    }


def wait_until(check: Callable[[], bool], what: str, timeout: float = PIPELINE_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)


def read_topic(
    bootstrap: str, topic: str, partitions: int, start: Mapping[int, int] | None = None
) -> list[tuple[bytes, bytes | None]]:
    """``(key, value)`` of every record from ``start`` (default: the beginning) to the end the
    topic has now, each partition in its order."""
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": "erase-test", "enable.auto.commit": False}
    )
    first = start or {}
    ends = {
        p: consumer.get_watermark_offsets(TopicPartition(topic, p), 30)[1]
        for p in range(partitions)
    }
    read = {p: first.get(p, 0) for p in ends}
    consumer.assign([TopicPartition(topic, p, read[p]) for p in ends])
    found: dict[int, list[tuple[bytes, bytes | None]]] = {p: [] for p in ends}
    try:
        deadline = time.monotonic() + 60
        while any(read[p] < ends[p] for p in ends):
            assert time.monotonic() < deadline, f"could not read {topic} to its end"
            for record in consumer.consume(1000, 1.0):
                partition, offset = record.partition(), record.offset()
                if record.error() or partition is None or offset is None:
                    continue
                if offset < ends[partition]:
                    found[partition].append((record.key() or b"", record.value()))
                read[partition] = offset + 1
    finally:
        consumer.close()
    return [record for p in sorted(found) for record in found[p]]


def ends_of(bootstrap: str, topic: str) -> dict[int, int]:
    probe = Offsets(bootstrap, "erase-test")
    try:
        return probe.ends(topic)
    finally:
        probe.close()


def counts_of(partials: Iterable[CampaignPartial]) -> dict[str, Expected]:
    """Each campaign's counts: the sum of the newest partial of each stage-1 partition."""
    newest = {(p.source_partition, p.campaign_id): p.counters for p in partials}
    summed: dict[str, list[int]] = {}
    for (_, campaign), c in newest.items():
        values = (c.dispatched, c.sent, c.delivered, c.read, c.played, c.failed, c.skipped)
        summed[campaign] = [
            a + b for a, b in zip(summed.get(campaign, [0] * 7), values, strict=True)
        ]
    return {campaign: Expected(*values) for campaign, values in summed.items()}


def rocks_entries(state_dir: Path) -> dict[bytes, bytes]:
    """Every key and value in the stopped worker's ``messages`` databases."""
    found: dict[bytes, bytes] = {}
    for path in sorted(state_dir.glob("**/messages-*")):
        db = rocksdict.Rdict(
            str(path),
            options=rocksdict.Options(raw_mode=True),
            access_type=rocksdict.AccessType.read_only(),
        )
        try:
            for key, value in db.items():
                assert isinstance(key, bytes) and isinstance(value, bytes)  # raw mode
                found[key] = value
        finally:
            db.close()
    assert found, f"no messages database under {state_dir}"
    return found


def holding(entries: dict[bytes, bytes | None], number: str) -> set[bytes]:
    """The live keys whose key or value holds ``number``."""
    needle = number.encode()
    return {k for k, v in entries.items() if v is not None and (needle in k or needle in v)}


def test_an_erased_number_leaves_the_tables_and_the_worker_state(
    kafka_bootstrap: str, database_url: str, topics: Topics, group_id: str, tmp_path: Path
) -> None:
    upgrade(database_url)
    at = datetime.now(UTC)
    before = events_before(at)
    expected = oracle(before)
    state_dir = tmp_path / "state"
    env = service_env(
        kafka_bootstrap,
        topics,
        DATABASE_URL=database_url,
        SINK_PORT=str(free_port()),
        STATE_DIR=str(state_dir),
        WORKER_DATA_DIR=str(tmp_path / "worker"),
    )
    worker = start_service("streams", env, tmp_path / "worker.log")
    sink = start_service("sink", env, tmp_path / "sink.log")
    reader = SnapshotReader(kafka_bootstrap, topics, group_id)
    try:
        with database(database_url) as engine:
            produce_registrations(
                kafka_bootstrap, topics, registrations(WORKSPACE_OF, WORKSPACE_OF, total=3)
            )
            produce_events(kafka_bootstrap, topics, before)
            assert reader.wait_for(expected, PIPELINE_TIMEOUT) == expected
            message_ids = {m for m, _, _ in DISPATCHES}
            skip_ids = {e.message_id for e in before if isinstance(e, Skip)}
            wait_until(lambda: set(rows(engine)) == message_ids | skip_ids, "every row")
            assert rows(engine)[f"skip:c1:{NUMBER}"].status == "attempted"
            assert rows(engine)["m-group"].participants == {NUMBER: 3, OTHER: 2}

            erased = subprocess.run(
                [*ERASE_COMMAND, "--timeout", str(PIPELINE_TIMEOUT)],
                env={**env, "TICKSTREAM_HOME": str(tmp_path / "home")},
                capture_output=True,
                text=True,
                timeout=PIPELINE_TIMEOUT + 60,
            )
            assert erased.returncode == 0, erased.stdout + erased.stderr
            assert "2 rows blanked, 2 skip rows deleted" in erased.stdout
            for topic in (topics.ack_events, topics.message_status, topics.changelog("messages")):
                assert f"  {topic}: " in erased.stdout

            produce_events(kafka_bootstrap, topics, late_events(at))
            ends = ends_of(kafka_bootstrap, topics.ack_events)
            sink_group = default_group_id(SinkSettings(topic_prefix=topics.prefix))
            assert wait_for_pipeline(kafka_bootstrap, topics, sink_group, ends, 120) is None
            table = rows(engine)
        stop(worker)
        statuses = {
            status.message_id: status  # each message's last, in the order the worker wrote them
            for _, value in read_topic(kafka_bootstrap, topics.message_status, topics.partitions)
            for status in decode_status_batch(value).statuses
        }
        changelog = dict(
            read_topic(kafka_bootstrap, topics.changelog("messages"), topics.partitions)
        )
        on_disk = rocks_entries(state_dir)

        # A worker on an empty disk reads the changelog and sends every sum again: each
        # (stage-1 partition, campaign) that had a partial gets a new one.
        partials_topic = topics.campaign_partials
        earlier = [
            decode_partial(value)
            for _, value in read_topic(kafka_bootstrap, partials_topic, topics.partitions)
        ]
        restart = ends_of(kafka_bootstrap, partials_topic)
        worker = start_service(
            "streams",
            {**env, "STATE_DIR": str(tmp_path / "empty-state")},
            tmp_path / "restored-worker.log",
        )
        sent_again: list[CampaignPartial] = []

        def every_sum_sent_again() -> bool:
            records = read_topic(kafka_bootstrap, partials_topic, topics.partitions, restart)
            sent_again[:] = [decode_partial(value) for _, value in records]
            pairs = {(p.source_partition, p.campaign_id) for p in sent_again}
            return pairs >= {(p.source_partition, p.campaign_id) for p in earlier}

        wait_until(every_sum_sent_again, "the restored worker's partials")
    finally:
        stop(worker)
        stop(sink)
        reader.close()

    # PostgreSQL: nothing of workspace w1 names the number or holds it in an id
    assert set(table) == message_ids | {f"skip:c1:{OTHER}"}
    for message_id, row in table.items():
        if row.workspace_id == "w1":
            assert NUMBER not in message_id and row.recipient != NUMBER, row
            assert NUMBER not in row.participants, row
    assert (table["m-erase"].recipient, table["m-erase"].status) == ("", "read")
    assert (table["m-group"].recipient, table["m-group"].participants) == ("", {})
    assert table["m-other"].recipient == OTHER
    assert table["m-w2"].recipient == NUMBER  # another workspace's message keeps it

    # the worker: its changelog and its databases hold the number for workspace w2 only
    w2_only = {b"m-w2", skip_message_id("c3", NUMBER).encode()}
    assert holding(changelog, NUMBER) == w2_only
    assert holding(dict(on_disk), NUMBER) == w2_only
    state = msgspec.json.decode(changelog[b"m-erase"] or b"", type=MessageState)
    assert state.erased and (state.recipient, state.ack_recipient) == ("", "")
    assert (state.max_rank, state.campaign_id) == (3, "c1")
    for message_id in ("m-erase", "m-group"):  # written for the late events
        assert statuses[message_id].erased, statuses[message_id]
        assert (statuses[message_id].recipient, statuses[message_id].participants) == ("", {})

    # the counts: unchanged by the erasure and the late events, also when read back from the
    # changelog alone
    assert reader.counts() == expected == oracle(before + late_events(at))
    assert counts_of([*earlier, *sent_again]) == counts_of(sent_again) == expected


def test_without_the_pipeline_it_blanks_at_once_and_asks_to_be_run_again(
    kafka_bootstrap: str, database_url: str, topics: Topics, tmp_path: Path
) -> None:
    """No worker and no sink run: the rows are blanked anyway, the erase events wait on
    ``ack-events`` for the worker, and the command says it has not finished (exit 1)."""
    upgrade(database_url)
    at = datetime.now(UTC)
    status = MessageStatus(
        message_id="m-erase",
        campaign_id="c1",
        workspace_id="w1",
        recipient=NUMBER,
        status="sent",
        max_rank=1,
        failed=False,
        updated_at=at,
    )
    skipped = msgspec.structs.replace(
        status, message_id=skip_message_id("c1", NUMBER), status="skipped", skipped=True
    )
    origin = Origin("test", 0, 0)
    with database(database_url) as engine:
        with engine.begin() as conn:
            write_batch(
                conn,
                [
                    Item(origin, CampaignRegistration(campaign_id="c9", workspace_id="w1")),
                    Item(origin, MessageStatusBatch(statuses=[status, skipped])),
                ],
            )
        erased = subprocess.run(
            [*ERASE_COMMAND, "--timeout", "2"],
            env={
                **service_env(kafka_bootstrap, topics, DATABASE_URL=database_url),
                "TICKSTREAM_HOME": str(tmp_path / "home"),
            },
            capture_output=True,
            text=True,
            timeout=120,
        )
        table = rows(engine)
    assert erased.returncode == 1, erased.stdout + erased.stderr
    assert "1 rows blanked, 1 skip rows deleted" in erased.stdout
    assert f"the worker (group {topics.worker_app}) has not processed" in erased.stderr
    assert "run the same command again" in erased.stderr
    assert set(table) == {"m-erase"} and table["m-erase"].recipient == ""
    sent = [
        (partition_for(key.decode(), topics.partitions), event)
        for key, value in read_topic(kafka_bootstrap, topics.ack_events, topics.partitions)
        for event in decode_event_batch(value).events
    ]
    expected_ids = {"m-erase", skip_message_id("c1", NUMBER), skip_message_id("c9", NUMBER)}
    assert {event.message_id for _, event in sent} == expected_ids
    for partition, event in sent:
        assert isinstance(event, Erase) and event.workspace_id == "w1"
        assert partition_for(event.message_id, topics.partitions) == partition

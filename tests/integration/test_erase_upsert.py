"""The sink's upsert with erased records (docs/operations.md, "Erasure") in a real PostgreSQL: the
table is the Python merge of every record whatever batches they come in, and once a row is
erased, the records written before the erasure, written again, bring no number back."""

from __future__ import annotations

import random

import msgspec
import pytest
import sqlalchemy as sa

from contract.events import MessageStatus, MessageStatusBatch
from sink.migrate import upgrade
from sink.records import Item, Origin
from sink.store import write_batch
from tests.integration.test_sink_pipeline import (
    dump,
    expected_statuses,
    skip_records,
    status_records,
)

pytestmark = pytest.mark.integration


def erasures(rng: random.Random, records: list[MessageStatus]) -> list[MessageStatus]:
    """For about a third of the messages, an erased record: as the worker writes it (numbers
    blank), or, now and then, still naming one (the merge must blank it all the same)."""
    first: dict[str, MessageStatus] = {}
    for record in records:
        first.setdefault(record.message_id, record)
    erased = []
    for message_id in sorted(first):
        if rng.random() < 1 / 3:
            record = msgspec.structs.replace(first[message_id], erased=True)
            if rng.random() < 0.8:
                record = msgspec.structs.replace(record, recipient="", participants={})
            erased.append(record)
    return erased


def write_in_batches(engine: sa.Engine, rng: random.Random, records: list[MessageStatus]) -> None:
    """Each batch in a transaction of its own, of a random size (1 to 300 records)."""
    start = 0
    while start < len(records):
        size = rng.randint(1, 300)
        batch = MessageStatusBatch(statuses=records[start : start + size])
        with engine.begin() as conn:
            write_batch(conn, [Item(Origin("t", 0, start), batch)])
        start += size


def test_erased_rows_in_postgresql_equal_the_python_merge(database_url: str) -> None:
    upgrade(database_url)
    rng = random.Random(23)
    records = status_records(rng, 300) + skip_records(rng, 100)
    records += erasures(rng, records)
    rng.shuffle(records)
    engine = sa.create_engine(database_url)
    try:
        write_in_batches(engine, rng, records)
    finally:
        engine.dispose()
    table = dump(database_url)["message_status"]
    assert table == expected_statuses(records)
    assert any(row["erased"] for row in table) and not all(row["erased"] for row in table)


def test_a_replay_from_before_the_erasure_brings_no_number_back(database_url: str) -> None:
    """The records written before the erasure, read again in batches without the erased records
    (a consumer group reset): only the database's own rule can keep the rows blank."""
    upgrade(database_url)
    rng = random.Random(29)
    before = status_records(rng, 300) + skip_records(rng, 100)
    erased = erasures(rng, before)
    engine = sa.create_engine(database_url)
    try:
        write_in_batches(engine, rng, before)
        write_in_batches(engine, rng, erased)
        written = dump(database_url)["message_status"]
        write_in_batches(engine, rng, before)
    finally:
        engine.dispose()
    assert dump(database_url)["message_status"] == written == expected_statuses(before + erased)
    erased_rows = [row for row in written if row["erased"]]
    assert {row["message_id"] for row in erased_rows} == {r.message_id for r in erased}
    assert {(row["recipient"], str(row["participants"])) for row in erased_rows} == {("", "{}")}

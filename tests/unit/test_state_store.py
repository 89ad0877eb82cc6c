"""The disk store (streams.state_store) holds exactly a prefix of the changelog: a write reaches
the database only once Kafka acknowledged it, together with its rows and offset, and what the store
reads from the changelog itself (restore, standby) goes in one write batch per fetch."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import faust
from faust.types import TP

from streams.changelog_reader import Fetched
from streams.rocks import MIB, OFFSET_KEY, PartitionDB, RocksMemory
from streams.state_store import DiskStore, disk_table
from streams.write_behind import Write

ROW = b"\x00\x00local\x00row"


def count_rows(read: Any, writes: list[Write]) -> list[Write]:
    """A stand-in for stage 1's sums: how many records were replayed onto the partition."""
    known = int(read(ROW) or b"0")
    return [(ROW, str(known + len(writes)).encode())]


class FakeChangelog:
    """A changelog in memory: per partition, (offset, key, value) in offset order."""

    def __init__(self, records: dict[int, list[tuple[int, bytes, bytes | None]]]) -> None:
        self.records = records
        self.reads: list[tuple[dict[int, int], bool]] = []

    @property
    def ends(self) -> dict[int, int]:
        return {p: (records[-1][0] + 1 if records else 0) for p, records in self.records.items()}

    @asynccontextmanager
    async def open(self, topic: str, partitions: Iterable[int]) -> AsyncIterator[FakeChangelog]:
        yield self

    async def read(self, starts: dict[int, int], *, follow: bool = False) -> AsyncIterator[Fetched]:
        self.reads.append((starts, follow))
        for partition, start in starts.items():
            tail = [r for r in self.records[partition] if r[0] >= start]
            for first in range(0, len(tail), 2):  # two records per fetch
                some = tail[first : first + 2]
                yield Fetched(partition, [(key, value) for _, key, value in some], some[-1][0])
                await asyncio.sleep(0)
        if follow:
            await asyncio.Event().wait()  # nothing appended: until cancelled


def make_store(root: Path, changelog: FakeChangelog | None = None, **options: Any) -> DiskStore:
    app = faust.App(f"unit-store-{root.name}", broker="kafka://127.0.0.1:1")
    table = disk_table(
        app,
        "t",
        root=root,
        memory=RocksMemory(16 * MIB),
        changelog=changelog or FakeChangelog({0: [], 1: []}),
        partitions=2,
        key_type=bytes,
        value_type=bytes,
        **options,
    )
    return table.store


def delivery(offset: int | None = None, count: int = 1) -> tuple[asyncio.Future[Any], int]:
    future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    if offset is not None:
        future.set_result(SimpleNamespace(offset=offset))
    return future, count


def acknowledge(future: asyncio.Future[Any], offset: int) -> None:
    future.set_result(SimpleNamespace(offset=offset))


def on_disk(store: DiskStore, key: bytes) -> bytes | None:
    return store.db(0).get(key)


async def test_a_write_reaches_the_disk_only_once_kafka_acknowledged_it(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    writes: list[Write] = [(b"m1", b"v1"), (b"m2", b"v2")]
    store.stage(0, writes)
    assert store.read(0, b"m1") == b"v1" and on_disk(store, b"m1") is None
    future, count = delivery(count=2)
    store.expect({0: writes}, {0: [(ROW, b"2")]}, {0: [(future, count)]})
    await asyncio.sleep(0)
    assert on_disk(store, b"m1") is None
    acknowledge(future, 40)  # a prepared batch of two: offsets 40 and 41
    await asyncio.sleep(0)
    assert on_disk(store, b"m2") == b"v2" and on_disk(store, ROW) == b"2"
    assert store.persisted_offset(TP("t", 0)) == 41
    assert store.read(0, b"m1") == b"v1"


async def test_groups_reach_the_disk_in_changelog_order(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    first, second = (b"m", b"old"), (b"m", b"new")
    store.stage(0, [first])
    store.stage(0, [second])
    older, _ = delivery()
    store.expect({0: [first]}, {}, {0: [(older, 1)]})
    store.expect({0: [second]}, {}, {0: [delivery(8)]})
    await asyncio.sleep(0)
    assert on_disk(store, b"m") is None  # the second waits for the first
    acknowledge(older, 7)
    await asyncio.sleep(0)
    assert on_disk(store, b"m") == b"new" and store.read(0, b"m") == b"new"
    assert store.db(0).offset == 8


async def test_a_refused_write_never_reaches_the_disk(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    store.stage(0, [(b"m", b"v")])
    future, _ = delivery()
    store.expect({0: [(b"m", b"v")]}, {}, {0: [(future, 1)]})
    future.set_exception(RuntimeError("refused"))
    await asyncio.sleep(0)
    assert on_disk(store, b"m") is None


async def test_writes_of_a_partition_given_up_stay_off_its_next_database(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    store.db(0)
    store.stage(0, [(b"m", b"mine")])
    future, _ = delivery()
    store.expect({0: [(b"m", b"mine")]}, {}, {0: [(future, 1)]})
    store.close_partition(0)  # revoked; another worker writes on after offset 5
    store.apply_changelog(0, [(b"m", b"theirs")], 9)
    acknowledge(future, 5)
    await asyncio.sleep(0)
    assert store.read(0, b"m") == b"theirs" and store.db(0).offset == 9


async def test_a_replayed_changelog_writes_its_rows_and_offset(tmp_path: Path) -> None:
    store = make_store(tmp_path, replay=count_rows)
    store.apply_changelog(1, [(b"a", b"1"), (b"b", b"2")], 11)
    assert store.read(1, ROW) == b"2" and store.persisted_offset(TP("t", 1)) == 11
    assert store.keys_from(1, b"\x01", 10) == [b"a", b"b"]  # never the local rows
    assert dict(store.local_rows(1)) == {OFFSET_KEY: b"11", ROW: b"2"}


def test_the_offset_is_read_back_after_a_reopen(tmp_path: Path) -> None:
    memory = RocksMemory(16 * MIB)
    db = PartitionDB(tmp_path / "p", memory)
    db.write([(b"k", b"v")], 3)
    db.write([(b"k", None)], 2)  # a replay from an older offset
    db.close()
    again = PartitionDB(tmp_path / "p", memory)
    assert again.offset == 2 and again.get(b"k") is None


def assign(store: DiskStore, active: Iterable[int], standby: Iterable[int] = ()) -> None:
    """Faust's assignor placed these partitions of the store's changelog here."""
    topic = store.table.changelog_topic.get_topic_name()
    assignor: Any = store.app.assignor
    assignor.assigned_actives = lambda: {TP(topic, p) for p in active}
    assignor.assigned_standbys = lambda: {TP(topic, p) for p in standby}


async def test_an_empty_disk_reads_each_active_changelog_whole(tmp_path: Path) -> None:
    changelog = FakeChangelog(
        {0: [(0, b"a", b"1"), (1, b"b", b"1"), (2, b"a", b"2"), (4, b"c", None)], 1: []}
    )
    store = make_store(tmp_path, changelog, replay=count_rows)
    assign(store, active=[0])
    await store.on_recovery_completed(set(), set())
    assert changelog.reads == [({0: 0}, False)]
    assert store.keys_from(0, b"\x01", 10) == [b"a", b"b"]
    assert store.read(0, b"a") == b"2" and store.read(0, ROW) == b"4"
    assert store.persisted_offset(TP("t", 0)) == 4


async def test_a_restart_reads_only_the_changelog_after_its_offset(tmp_path: Path) -> None:
    changelog = FakeChangelog({0: [(0, b"a", b"1"), (1, b"b", b"1"), (2, b"a", b"2")], 1: []})
    store = make_store(tmp_path, changelog)
    store.apply_changelog(0, [(b"a", b"1"), (b"b", b"1")], 1)
    assign(store, active=[0, 1])
    await store.on_recovery_completed(set(), set())
    assert changelog.reads == [({0: 2, 1: 0}, False)]
    assert store.read(0, b"a") == b"2" and store.persisted_offset(TP("t", 0)) == 2


async def test_a_standby_follows_its_changelog_until_the_next_rebalance(tmp_path: Path) -> None:
    changelog = FakeChangelog({0: [], 1: [(0, b"x", b"1"), (1, b"y", b"1")]})
    store = make_store(tmp_path, changelog)
    store.apply_changelog(1, [(b"x", b"1")], 0)
    assign(store, active=[0], standby=[1])
    await store.on_recovery_completed(set(), set())
    while store.db(1).offset != 1:
        await asyncio.sleep(0)
    assert changelog.reads == [({0: 0}, False), ({1: 1}, True)]
    await store.on_rebalance(set(), set(), set())  # stops following; nothing left behind
    assert store.read(1, b"y") == b"1"


async def test_a_database_past_its_changelogs_end_is_read_anew(tmp_path: Path) -> None:
    changelog = FakeChangelog({0: [(0, b"a", b"new")], 1: []})
    store = make_store(tmp_path, changelog)
    store.apply_changelog(0, [(b"a", b"old"), (b"z", b"old")], 7)  # from a replaced changelog
    assign(store, active=[0])
    await store.on_recovery_completed(set(), set())
    assert changelog.reads == [({0: 0}, False)]
    assert store.keys_from(0, b"\x01", 10) == [b"a"] and store.read(0, b"a") == b"new"
    assert store.persisted_offset(TP("t", 0)) == 0


async def test_a_rebalance_stops_a_restore_at_a_prefix_of_the_changelog(tmp_path: Path) -> None:
    changelog = FakeChangelog({0: [(i, f"k{i}".encode(), b"v") for i in range(6)], 1: []})
    store = make_store(tmp_path, changelog, replay=count_rows)
    assign(store, active=[0])
    restoring = asyncio.ensure_future(store.on_recovery_completed(set(), set()))
    while store.db(0).offset is None:  # the first fetch (two records) is on disk
        await asyncio.sleep(0)
    await store.on_rebalance(set(), set(), set())
    await asyncio.wait([restoring])
    assert restoring.cancelled()
    offset = store.db(0).offset
    assert offset is not None and offset < 5
    assert store.keys_from(0, b"\x01", 10) == [f"k{i}".encode() for i in range(offset + 1)]
    assert store.read(0, ROW) == str(offset + 1).encode()

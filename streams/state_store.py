"""The worker's tables on local disk: each partition a RocksDB database that holds exactly a prefix
of the table's changelog, and the offset of that prefix.

Faust's own RocksDB store writes a value to the database when the table is written and records
the changelog offset when Kafka acknowledges it, so after a SIGKILL the database can hold writes
the changelog never received. Here a write goes to the database only once Kafka has acknowledged
its changelog record: until then it waits in memory (``pending``; reads see it), and then it is
written together with the local rows derived from it (stage 1's sums) and the offset it reached,
in one RocksDB write batch. Whatever a crash interrupts, the database is some prefix of the
changelog and knows which, so a restart reads only the changelog after it (docs/exactness.md).

Faust still drives the table: its assignor places active and standby partitions. Their changelogs
are read by the store itself (:meth:`DiskStore.on_recovery_completed`, through
``streams.changelog_reader``), many records per write batch, where Faust's recovery would hand them
over one at a time: an active partition's to its end before Faust resumes the streams, a standby's
on and on. Faust's recovery is given no changelog partition (``streams.faust_transport``).
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import faust
from faust.stores.base import Store
from faust.types import TP, EventT, StoreT

from streams.changelog_reader import ChangelogSource
from streams.rocks import FIRST_VALUE_KEY, LOCAL_PREFIX, PartitionDB, RocksMemory
from streams.write_behind import Write

log = logging.getLogger(__name__)

# Local rows that follow from changelog writes replayed onto a partition (stage 1's sums):
# ``replay(read, writes)`` with ``read`` giving the partition's values before them.
Replay = Callable[[Callable[[bytes], bytes | None], list[Write]], list[Write]]
# How often a long restore says how far it got.
RESTORE_REPORT_SECONDS = 10.0
# A changelog send: its future (resolving to Kafka's record metadata) and how many records it
# holds (a prepared batch resolves to the offset of its first one).
Delivery = tuple["asyncio.Future[Any]", int]


@dataclass
class _Unconfirmed:
    """Writes sent to the changelog, waiting for Kafka's acknowledgement."""

    writes: dict[int, list[Write]]
    rows: dict[int, list[Write]]
    deliveries: dict[int, list[Delivery]]
    epochs: dict[int, int] = field(default_factory=dict)

    def acknowledged(self) -> bool:
        return all(f.done() for sent in self.deliveries.values() for f, _ in sent)

    def failed(self) -> bool:
        return any(
            f.cancelled() or f.exception() is not None
            for sent in self.deliveries.values()
            for f, _ in sent
        )

    def last_offset(self, partition: int) -> int | None:
        sent = self.deliveries.get(partition)
        if not sent:
            return None
        return max(f.result().offset + count - 1 for f, count in sent)


class DiskStore(Store):
    """One table's partitions on disk, plus the writes Kafka has not acknowledged yet."""

    def __init__(
        self,
        app: faust.App,
        table: faust.Table,
        root: Path,
        memory: RocksMemory,
        changelog: ChangelogSource,
        replay: Replay | None = None,
    ) -> None:
        super().__init__(f"disk://{root}", app, table, loop=table.loop)
        self.root = root
        self.memory = memory
        self.changelog = changelog
        self.replay = replay
        self._dbs: dict[int, PartitionDB] = {}
        self._epochs: dict[int, int] = {}  # bumped when a partition's database closes
        self._pending: dict[int, dict[bytes, Write]] = {}
        self._unconfirmed: deque[_Unconfirmed] = deque()
        self._replayed: dict[int, int] = {}  # changelog records read since the rebalance began
        self._restoring: asyncio.Future[None] | None = None  # an active partition's changelog
        self._following: asyncio.Future[None] | None = None  # the standby partitions' changelogs

    # ------------------------------------------------------------------ the worker's side

    def read(self, partition: int, key: bytes) -> bytes | None:
        """The newest value of ``key``, acknowledged or not."""
        pending = self._pending.get(partition)
        if pending is not None and key in pending:
            return pending[key][1]
        return self.db(partition).get(key)

    def stage(self, partition: int, writes: Iterable[Write]) -> None:
        """Make writes visible to :meth:`read` now; they reach the disk through :meth:`expect`."""
        pending = self._pending.setdefault(partition, {})
        for write in writes:
            pending[write[0]] = write

    def expect(
        self,
        writes: dict[int, list[Write]],
        rows: dict[int, list[Write]],
        deliveries: dict[int, list[Delivery]],
    ) -> None:
        """Staged ``writes`` and the local ``rows`` as they stand after them are on their way to
        the changelog; write them to disk once every delivery is acknowledged.

        Calls must come in the order the writes were appended to the producer (one sender per
        table, ``streams.write_behind``), which is the changelog's order.
        """
        epochs = {p: self._epochs.get(p, 0) for p in writes.keys() | rows.keys()}
        self._unconfirmed.append(_Unconfirmed(writes, rows, deliveries, epochs))
        for sent in deliveries.values():
            for future, _ in sent:
                future.add_done_callback(self._on_delivery)

    def _on_delivery(self, _: asyncio.Future[Any]) -> None:
        self.confirm_acknowledged()

    def confirm_acknowledged(self) -> None:
        """Write every acknowledged group to disk, oldest first, each in one write batch."""
        while self._unconfirmed and self._unconfirmed[0].acknowledged():
            head = self._unconfirmed[0]
            if head.failed():
                return  # the changelog lacks them: never on disk (the worker crashes, see writer)
            self._unconfirmed.popleft()
            for partition, epoch in head.epochs.items():
                writes = head.writes.get(partition, [])
                if epoch == self._epochs.get(partition, 0) and partition in self._dbs:
                    rows = head.rows.get(partition, [])
                    self._dbs[partition].write([*writes, *rows], head.last_offset(partition))
                pending = self._pending.get(partition)
                if pending:
                    for write in writes:
                        if pending.get(write[0]) is write:
                            del pending[write[0]]

    def write_local(self, partition: int, rows: list[Write]) -> None:
        """Local rows that say nothing about the table's values (stage 1's sent marks), written
        alone at once: to a partition held now, whatever happened to it meanwhile."""
        db = self._dbs.get(partition)
        if db is not None:
            db.write(rows, None)

    def db(self, partition: int) -> PartitionDB:
        db = self._dbs.get(partition)
        if db is None:
            db = self._dbs[partition] = PartitionDB(
                self.root / f"{self.table.name}-{partition}", self.memory
            )
        return db

    def keys_from(self, partition: int, start: bytes, limit: int) -> list[bytes]:
        """Up to ``limit`` keys on disk from ``start`` on (writes not yet acknowledged are not
        among them: :meth:`read` has those)."""
        return self.db(partition).keys(start, limit)

    def holds(self, partition: int) -> bool:
        return partition in self._dbs

    def local_rows(self, partition: int) -> Iterator[tuple[bytes, bytes]]:
        """The partition's local rows (offset, sums), as acknowledged."""
        return self.db(partition).scan(LOCAL_PREFIX, LOCAL_PREFIX[:-1] + b"\x01")

    def disk_bytes(self) -> int:
        return sum(db.disk_bytes() for db in self._dbs.values())

    def close_partition(self, partition: int) -> None:
        """Forget a partition this worker no longer holds; writes still in flight for it stay
        in the changelog only (a later owner reads them from there)."""
        db = self._dbs.pop(partition, None)
        if db is not None:
            db.close()
        self._epochs[partition] = self._epochs.get(partition, 0) + 1
        self._pending.pop(partition, None)

    # ------------------------------------------------------------------ Faust's side

    def persisted_offset(self, tp: TP) -> int | None:
        return self.db(tp.partition).offset

    def set_persisted_offset(self, tp: TP, offset: int) -> None:
        """Unused: the offset is written with the values it covers (:meth:`expect`)."""

    async def need_active_standby_for(self, tp: TP) -> bool:
        return True

    def apply_changelog_batch(
        self,
        batch: Iterable[EventT],
        to_key: Callable[[Any], Any],
        to_value: Callable[[Any], Any],
    ) -> None:
        raise NotImplementedError("the store reads its changelogs itself (on_recovery_completed)")

    def apply_changelog(self, partition: int, writes: list[Write], offset: int) -> None:
        """Changelog records read into the database, with the rows they lead to and the offset
        of the last, in one write batch."""
        self._replayed[partition] = self._replayed.get(partition, 0) + len(writes)
        db = self.db(partition)
        rows = [] if self.replay is None else self.replay(db.get, writes)
        db.write([*writes, *rows], offset)

    async def on_rebalance(
        self,
        assigned: set[TP],
        revoked: set[TP],
        newly_assigned: set[TP],
        generation_id: int = 0,
    ) -> None:
        await self._stop_reading()
        self._replayed.clear()
        for tp in revoked:
            if tp.topic == self.table.changelog_topic.get_topic_name():
                self.close_partition(tp.partition)

    async def on_recovery_completed(self, active_tps: set[TP], standby_tps: set[TP]) -> None:
        """Read every active partition's changelog after the database's offset, to its end,
        before Faust resumes the streams (nothing after a SIGTERM, the unwritten tail after a
        SIGKILL or a takeover from a standby, everything on an empty disk); then follow the
        standby partitions' changelogs until the next rebalance.

        Faust's recovery holds no changelog partition (``WorkerRecovery``), so both sets come
        from its assignor here.
        """
        topic = self.table.changelog_topic.get_topic_name()
        assignor = self.app.assignor
        active = sorted(tp.partition for tp in assignor.assigned_actives() if tp.topic == topic)
        standby = sorted(tp.partition for tp in assignor.assigned_standbys() if tp.topic == topic)
        for partition in set(self._dbs) - {*active, *standby}:
            self.close_partition(partition)
        self._restoring = asyncio.ensure_future(self._read(active, follow=False))
        try:
            await self._restoring
        except Exception as exc:
            # The streams must not resume on a database short of its changelog: the worker
            # stops, and this never returns (Faust would resume them when it does).
            await self.app.crash(exc)
            await asyncio.Event().wait()
        for partition in active:
            log.info(
                "table %s: partition %d active at changelog offset %s, %d records read since "
                "the rebalance",
                self.table.name,
                partition,
                self.db(partition).offset,
                self._replayed.get(partition, 0),
            )
        self._following = asyncio.ensure_future(self._follow(standby))

    async def _follow(self, partitions: list[int]) -> None:
        """A standby's reading: it only shortens a later takeover, so a failure is logged and
        the takeover reads what was missed."""
        try:
            await self._read(partitions, follow=True)
        except Exception:
            log.exception(
                "table %s: following standby partitions %s failed", self.table.name, partitions
            )

    async def _read(self, partitions: list[int], *, follow: bool) -> None:
        """Each partition's changelog after the database's offset, one write batch per fetch: to
        the end it had when opened, or with ``follow`` on and on (saying when it got there)."""
        if not partitions:
            return
        topic = self.table.changelog_topic.get_topic_name()
        async with self.changelog.open(topic, partitions) as changelog:
            ends = changelog.ends
            for partition in partitions:
                offset = self.db(partition).offset
                if offset is not None and offset >= ends[partition]:
                    log.warning(
                        "table %s: partition %d's database is at offset %d, past its changelog's "
                        "end (%d): the changelog was replaced; reading it anew",
                        self.table.name,
                        partition,
                        offset,
                        ends[partition],
                    )
                    self._discard(partition)
            starts = {}
            for partition in partitions:
                offset = self.db(partition).offset
                starts[partition] = 0 if offset is None else offset + 1
            progress = _ReadProgress(self.table.name, partitions, follow)
            behind = {partition for partition in partitions if starts[partition] < ends[partition]}
            if not behind:
                progress.done()
            async for fetched in changelog.read(starts, follow=follow):
                self.apply_changelog(*fetched)
                progress.add(len(fetched.writes))
                if behind and fetched.last_offset >= ends[fetched.partition] - 1:
                    behind.discard(fetched.partition)
                    if not behind:
                        progress.done()
        if behind:  # its last records compacted away, a partition ended without one
            progress.done()

    def _discard(self, partition: int) -> None:
        path = self.db(partition).path
        self.close_partition(partition)
        shutil.rmtree(path)

    async def _stop_reading(self) -> None:
        """Stop a restore or a standby's reading at its next fetch: what it wrote is a prefix of
        the changelog, each batch with its offset."""
        reading = [task for task in (self._restoring, self._following) if task is not None]
        self._restoring = self._following = None
        for task in reading:
            task.cancel()
        if reading:
            await asyncio.wait(reading)

    def reset_state(self) -> None:
        for partition in list(self._dbs):
            self.close_partition(partition)
        shutil.rmtree(self.root, ignore_errors=True)

    async def on_stop(self) -> None:
        await self._stop_reading()
        self.confirm_acknowledged()
        for partition in list(self._dbs):
            self.close_partition(partition)

    async def backup_partition(
        self, tp: TP | int, flush: bool = True, purge: bool = False, keep: int = 1
    ) -> None:
        raise NotImplementedError("the changelog is the backup")

    def restore_backup(self, tp: TP | int, latest: bool = True, backup_id: int = 0) -> None:
        raise NotImplementedError("the changelog is the backup")

    # The mapping interface Faust's Table expects; the worker reads and writes by partition.

    def __getitem__(self, key: Any) -> Any:
        for partition in self._dbs:
            value = self.read(partition, key)
            if value is not None:
                return value
        raise KeyError(key)

    def __setitem__(self, key: Any, value: Any) -> None:
        raise TypeError("the worker writes through stage(); see streams.state_store")

    def __delitem__(self, key: Any) -> None:
        raise TypeError("the worker writes through stage(); see streams.state_store")

    def __iter__(self) -> Iterator[Any]:
        for partition in list(self._dbs):
            start = FIRST_VALUE_KEY
            while keys := self.keys_from(partition, start, 1000):
                yield from keys
                start = keys[-1] + b"\x00"

    def __len__(self) -> int:
        return sum(1 for _ in self)


class DiskTable(faust.Table):
    """A Faust table whose store is a :class:`DiskStore`."""

    def __init__(
        self,
        app: faust.App,
        *,
        root: Path,
        memory: RocksMemory,
        changelog: ChangelogSource,
        replay: Replay | None = None,
        **kwargs: Any,
    ) -> None:
        self._disk = (root, memory, changelog, replay)
        super().__init__(app, **kwargs)

    def _new_store(self) -> StoreT:
        root, memory, changelog, replay = self._disk
        return DiskStore(cast(faust.App, self.app), self, root, memory, changelog, replay)

    @property
    def store(self) -> DiskStore:
        data = self.data
        assert isinstance(data, DiskStore)
        return data


def disk_table(app: faust.App, name: str, **options: Any) -> DiskTable:
    """Define a :class:`DiskTable` on ``app`` as ``app.Table`` defines Faust's own."""
    table = DiskTable(app, name=name, beacon=app.tables.beacon, **options)
    app.tables.add(table)
    return table


class _ReadProgress:
    """What a long changelog read says while it runs, and its rate once at the end."""

    def __init__(self, table: str, partitions: list[int], follow: bool) -> None:
        self.what = f"table {table}: {'standby ' if follow else ''}partitions {partitions}"
        self.records = 0
        self.started = time.monotonic()
        self._report_at = self.started + RESTORE_REPORT_SECONDS
        self._done = False

    def add(self, records: int) -> None:
        self.records += records
        if not self._done and time.monotonic() >= self._report_at:
            self._report_at += RESTORE_REPORT_SECONDS
            log.info("%s: %d changelog records read so far", self.what, self.records)

    def done(self) -> None:
        self._done = True
        took = time.monotonic() - self.started
        log.info(
            "%s: read %d changelog records to the end in %.1f s (%.0f records/s)",
            self.what,
            self.records,
            took,
            self.records / max(took, 1e-9),
        )

"""One RocksDB database (through rocksdict) per table partition, under one memory budget.

Every database of the worker process shares one block cache, and the write buffers (memtables)
are charged to that same cache by a write-buffer manager, so ``STATE_MEMORY_MB`` bounds RocksDB's
memory however many partitions a worker holds (docs/worker.md gives the RSS it leads to).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import rocksdict

from streams.write_behind import Write

# Keys of local rows: written with the table's values, never sent to the changelog. The prefix
# sorts before every message id and retired key.
LOCAL_PREFIX = b"\x00\x00local\x00"
# The changelog offset the database reflects.
OFFSET_KEY = LOCAL_PREFIX + b"offset"
# Where the keys of table values begin: past the local rows and stage 1's retired entries (both
# start with a zero byte; no message or campaign id does).
FIRST_VALUE_KEY = b"\x01"
MIB = 1024 * 1024


class RocksMemory:
    """The block cache and write-buffer budget every database of the process shares."""

    def __init__(self, budget_bytes: int) -> None:
        self.budget_bytes = budget_bytes
        self._cache = rocksdict.Cache(budget_bytes)
        # memtables count against the cache: one limit for both (RocksDB's write-buffer manager)
        self._write_buffers = rocksdict.WriteBufferManager.new_write_buffer_manager_with_cache(
            budget_bytes // 2, False, self._cache
        )

    def options(self) -> rocksdict.Options:
        options = rocksdict.Options(raw_mode=True)
        options.create_if_missing(True)
        options.set_write_buffer_manager(self._write_buffers)
        write_buffer = max(MIB, min(16 * MIB, self.budget_bytes // 8))
        options.set_write_buffer_size(write_buffer)
        options.set_max_write_buffer_number(2)
        # A partition's database (~80 MiB at 10,000,000 messages) sits below RocksDB's default
        # 256 MiB level base, where every L0 compaction goes straight into the last level and
        # rewrites the whole database. A base of four write buffers puts a small level above
        # it, moved down in files of one write buffer. Measured on 8 databases of 2,500,000
        # keys under 64 MiB (a cold restore, then a minute of live writes): 31 % fewer bytes
        # compacted in the restore, compaction CPU 6.2 -> 4.6 µs per restored record and
        # 8.1 -> 4.6 µs per live event, at most 5 L0 files instead of 10; the restore rate and
        # disk bytes unchanged.
        options.set_max_bytes_for_level_base(4 * write_buffer)
        options.set_target_file_size_base(write_buffer)
        options.set_max_open_files(256)
        options.set_compression_type(rocksdict.DBCompressionType.lz4())
        table = rocksdict.BlockBasedOptions()
        table.set_block_cache(self._cache)
        table.set_cache_index_and_filter_blocks(True)  # index and filters within the budget too
        table.set_pin_l0_filter_and_index_blocks_in_cache(True)
        table.set_bloom_filter(10, False)  # most lookups are of messages not seen yet
        # Index and filter in small cached partitions under a pinned top level: a file's whole
        # filter (megabytes with millions of keys) no longer has to be read back into a small
        # cache for one lookup, which made a cold restore of 10,000,000 messages slow down to
        # ~10,000 records/s as the databases grew (docs/worker.md).
        table.set_partition_filters(True)
        table.set_index_type(rocksdict.BlockBasedIndexType.two_level_index_search())
        table.set_metadata_block_size(4096)
        table.set_pin_top_level_index_and_filter(True)
        options.set_block_based_table_factory(table)
        return options


class PartitionDB:
    """A partition's database: table values, local rows, and the changelog offset they reflect."""

    def __init__(self, path: Path, memory: RocksMemory) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = rocksdict.Rdict(str(path), options=memory.options())
        stored = self._db.get(OFFSET_KEY)
        self.offset: int | None = None if stored is None else int(stored)

    def get(self, key: bytes) -> bytes | None:
        value: bytes | None = self._db.get(key)
        return value

    def write(self, writes: Iterable[Write], offset: int | None) -> None:
        """Apply ``writes`` (changelog records up to ``offset``, and local rows) and record
        ``offset`` in one atomic write batch.

        The offset is set as given, even lower than before: a replay of records the database
        already holds leaves it ahead of its offset for a while, which is harmless (replaying
        them once more changes nothing), where an offset ahead of the data would skip records.
        """
        batch = rocksdict.WriteBatch(raw_mode=True)
        for key, value in writes:
            if value is None:
                batch.delete(key)
            else:
                batch.put(key, value)
        if offset is not None:
            batch.put(OFFSET_KEY, str(offset).encode())
        self._db.write(batch)
        if offset is not None:
            self.offset = offset

    def scan(self, start: bytes, stop: bytes | None = None) -> Iterator[tuple[bytes, bytes]]:
        """Keys from ``start`` (inclusive) to ``stop`` (exclusive; None: the end), in order.

        A RocksDB iterator: it holds one entry at a time and sees the database as it was when
        the scan started. It keeps the database open (and locked) while it lives, so consume it
        without yielding to the event loop; :meth:`keys` serves longer walks.
        """
        for key, value in self._db.items(from_key=start):
            assert isinstance(key, bytes)  # raw mode: keys are bytes
            if stop is not None and key >= stop:
                return
            yield key, value

    def keys(self, start: bytes, limit: int) -> list[bytes]:
        """Up to ``limit`` keys from ``start`` on, in order; call again from after the last."""
        keys: list[bytes] = []
        for key in self._db.keys(from_key=start):
            assert isinstance(key, bytes)  # raw mode: keys are bytes
            keys.append(key)
            if len(keys) >= limit:
                break
        return keys

    def disk_bytes(self) -> int:
        return sum(f.stat().st_size for f in self.path.glob("*") if f.is_file())

    def close(self) -> None:
        self._db.close()

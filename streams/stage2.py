"""Stage 2, keyed by campaign id: partials and registrations into the ``campaigns`` table, and the
snapshots of its windows.

Each campaign keeps its latest partial per stage-1 partition, its metadata and the changes of each
open window (``streams.campaign_state``). A timer writes one snapshot per campaign and ended window
to ``campaign-stats``, flushes, then records the window as emitted.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import faust
import msgspec

from contract.events import CampaignPartial, DecodeError, decode_campaign_input, encode
from contract.partitioning import partition_for
from streams import metrics
from streams.campaign_state import (
    CampaignState,
    apply_partial,
    apply_registration,
    due_windows,
    mark_emitted,
    snapshot,
)
from streams.changelog_writer import ChangelogWriter
from streams.dead_letters import DeadLetters
from streams.rocks import FIRST_VALUE_KEY
from streams.state_store import DiskTable
from streams.write_behind import Segment, WriteBehind

log = logging.getLogger(__name__)

_campaign_decoder = msgspec.json.Decoder(CampaignState)
# Stage 2 writes a few records per 100 ms: its buffer goes out with every flush of the producer.
WRITE_BEHIND_FLUSH_AT = 1_000


def _now_ms() -> int:
    return int(time.time() * 1000)


class CampaignStage:
    """The ``campaigns`` table and the campaigns with windows whose snapshot is not written yet."""

    def __init__(
        self,
        table: DiskTable,
        writer: ChangelogWriter,
        flush: Callable[[], Awaitable[None]],
        partitions: int,
        window_seconds: float,
        dead_letters: DeadLetters,
    ) -> None:
        self.table = table
        self.dead_letters = dead_letters
        self.writer = writer
        self.flush = flush
        self.partitions = partitions
        self.window_ms = max(1, round(window_seconds * 1000))
        self.open_campaigns: set[str] = set()
        self.write_behind = WriteBehind(self._send_segment, WRITE_BEHIND_FLUSH_AT)

    async def _send_segment(self, segment: Segment) -> None:
        await self.writer.send_table_writes(self.table, segment)

    def load(self, campaign_id: str, partition: int | None = None) -> CampaignState | None:
        """A campaign's state, from its partition (default: where its id is partitioned)."""
        if partition is None:
            partition = partition_for(campaign_id, self.partitions)
        stored = self.table.store.read(partition, campaign_id.encode())
        return None if stored is None else _campaign_decoder.decode(stored)

    async def write(self, partition: int, state: CampaignState) -> None:
        key = state.campaign_id.encode()
        writes = [(key, encode(state))]
        self.table.store.stage(partition, writes)
        if self.write_behind.add(partition, writes):
            await self.write_behind.drain()

    async def process(self, topic: str, partition: int, offset: int, value: bytes | None) -> None:
        """Apply one partial or registration."""
        try:
            record = decode_campaign_input(value)
        except DecodeError as exc:
            await self.dead_letters.keep(str(exc), topic, partition, offset, value)
            return
        current = self.load(record.campaign_id, partition) or CampaignState(
            campaign_id=record.campaign_id
        )
        now_ms = _now_ms()
        if isinstance(record, CampaignPartial):
            updated = apply_partial(current, record, now_ms, self.window_ms)
        else:
            updated = apply_registration(current, record, now_ms, self.window_ms)
        if updated is not current:
            self.open_campaigns.add(record.campaign_id)
            await self.write(partition, updated)

    def on_recover(self, active: set[int]) -> None:
        """Reopen every owned campaign with windows whose snapshot is not written yet (one value
        per campaign)."""
        self.open_campaigns = set()
        for partition in active:
            start = FIRST_VALUE_KEY
            while keys := self.table.store.keys_from(partition, start, 1000):
                for key in keys:
                    state = self.load(key.decode(), partition)
                    if state is not None and state.windows:
                        self.open_campaigns.add(state.campaign_id)
                start = keys[-1] + b"\x00"
        log.info("stage 2 owns %d campaigns with open windows", len(self.open_campaigns))

    async def send_snapshots(
        self, stats_topic: faust.TopicT, active: Callable[[], set[int]]
    ) -> None:
        await self.write_behind.drain()  # stage 2's table writes go out at least this often
        now_ms = _now_ms()
        now = datetime.now(UTC)
        due: list[tuple[str, int, datetime | None]] = []
        snapshots = []
        for campaign_id in sorted(self.open_campaigns):
            current = self.load(campaign_id)
            if current is None or not current.windows:
                self.open_campaigns.discard(campaign_id)
                continue
            windows = due_windows(current, now_ms, self.window_ms)
            for start in windows:
                snapshots.append(snapshot(current, start, self.window_ms, now))
                # the next window's snapshot must know when the campaign completed, if it did
                completed = snapshots[-1].statistics.completed_at
                current = msgspec.structs.replace(current, completed_at=completed)
            if windows:
                due.append((campaign_id, windows[-1], current.completed_at))
        if not snapshots:
            return
        await self.flush()  # the campaign state behind the snapshots is durable
        for item in snapshots:
            await stats_topic.send(
                key=item.campaign_id.encode(),
                value=encode(item),
                partition=partition_for(item.campaign_id, self.partitions),
            )
        await self.flush()  # the snapshots are on the topic
        owned = active()
        for campaign_id, through, completed_at in due:
            partition = partition_for(campaign_id, self.partitions)
            current = self.load(campaign_id)
            if current is None or partition not in owned:
                continue
            await self.write(partition, mark_emitted(current, through, completed_at))
        sent_at = time.time()
        for item in snapshots:
            metrics.SNAPSHOT_LAG.observe(sent_at - item.window.end.timestamp())
        metrics.SNAPSHOTS.inc(len(snapshots))

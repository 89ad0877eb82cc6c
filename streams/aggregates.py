"""Stage 1's per-partition campaign sums, derived from the message table. No I/O.

They are never stored: after a restart or a rebalance they are rebuilt from the recovered message
table, so they always equal the sum over the messages that table holds — whatever part of the
changelog a crash let through. See docs/exactness.md.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from contract.events import CampaignPartial, Counters
from streams.message_state import NO_CONTRIBUTION, Contribution, MessageState, contribution
from streams.retention import Retired
from streams.stats import counters_of

WIDTH = len(NO_CONTRIBUTION)


class PartitionAggregates:
    """Sums of message contributions per (stage-1 partition, campaign), and which changed."""

    def __init__(self) -> None:
        self._sums: dict[int, dict[str, list[int]]] = {}
        self._started: dict[tuple[int, str], datetime] = {}
        self._workspaces: dict[str, str] = {}
        self._dirty: set[tuple[int, str]] = set()

    def apply(
        self, partition: int, before: MessageState, after: MessageState
    ) -> tuple[Contribution, Contribution]:
        """Move one message's contribution from ``before`` to ``after``."""
        old, new = contribution(before), contribution(after)
        if old != new:
            # A message's campaign never changes once set, so `after` names it.
            sums = self._sums.setdefault(partition, {})
            row = sums.setdefault(after.campaign_id, [0] * WIDTH)
            for i in range(WIDTH):
                row[i] += new[i] - old[i]
            self._workspaces.setdefault(after.campaign_id, after.workspace_id)
            self._dirty.add((partition, after.campaign_id))
        if self._note_start(partition, after):
            self._dirty.add((partition, after.campaign_id))
        return old, new

    def _note_start(self, partition: int, state: MessageState) -> bool:
        """Keep the earliest dispatch time per (partition, campaign); True when it moved."""
        if not state.campaign_id or state.skipped or state.dispatched_at is None:
            return False
        key = (partition, state.campaign_id)
        known = self._started.get(key)
        if known is not None and known <= state.dispatched_at:
            return False
        self._started[key] = state.dispatched_at
        return True

    def rebuild(
        self, partition: int, states: Iterable[MessageState], retired: Iterable[Retired] = ()
    ) -> None:
        """Recompute a partition's sums from its messages and the counters of those dropped after
        the retention period; every campaign in it is sent again."""
        sums: dict[str, list[int]] = {}
        for key in [key for key in self._started if key[0] == partition]:
            del self._started[key]
        for entry in retired:
            c = entry.counters
            sums[entry.campaign_id] = [
                c.dispatched,
                c.sent,
                c.delivered,
                c.read,
                c.played,
                c.failed,
                c.skipped,
            ]
            if entry.started_at is not None:
                self._started[(partition, entry.campaign_id)] = entry.started_at
            self._workspaces.setdefault(entry.campaign_id, entry.workspace_id)
        for state in states:
            if not state.campaign_id:
                continue
            row = sums.setdefault(state.campaign_id, [0] * WIDTH)
            for i, value in enumerate(contribution(state)):
                row[i] += value
            self._note_start(partition, state)
            self._workspaces.setdefault(state.campaign_id, state.workspace_id)
        self._sums[partition] = sums
        self._dirty.difference_update({key for key in self._dirty if key[0] == partition})
        self._dirty.update((partition, campaign) for campaign in sums)

    def drop(self, partition: int) -> None:
        """Forget a partition this worker no longer owns."""
        self._sums.pop(partition, None)
        for key in [key for key in self._started if key[0] == partition]:
            del self._started[key]
        self._dirty.difference_update({key for key in self._dirty if key[0] == partition})

    @property
    def partitions(self) -> set[int]:
        return set(self._sums)

    def counters(self, partition: int, campaign_id: str) -> Counters:
        return counters_of(tuple(self._sums.get(partition, {}).get(campaign_id, [0] * WIDTH)))

    def started_at(self, partition: int, campaign_id: str) -> datetime | None:
        return self._started.get((partition, campaign_id))

    def take_dirty(self) -> list[CampaignPartial]:
        """The partials changed since the last call; the caller must send them or call
        :meth:`mark_dirty` with them again."""
        taken = [
            CampaignPartial(
                campaign_id=campaign,
                workspace_id=self._workspaces.get(campaign, ""),
                source_partition=partition,
                counters=self.counters(partition, campaign),
                started_at=self.started_at(partition, campaign),
            )
            for partition, campaign in sorted(self._dirty)
            if partition in self._sums
        ]
        self._dirty.clear()
        return taken

    def mark_dirty(self, partials: Iterable[CampaignPartial]) -> None:
        self._dirty.update((p.source_partition, p.campaign_id) for p in partials)

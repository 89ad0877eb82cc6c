"""Stage 1's per-partition campaign sums, derived from the message table. No I/O.

They are never stored: after a restart or a rebalance they are rebuilt from the recovered message
table, so they always equal the sum over the messages that table holds — whatever part of the
changelog a crash let through. See docs/exactness.md.
"""

from __future__ import annotations

from collections.abc import Iterable

from streams.events import CampaignPartial, Counters
from streams.message_state import Contribution, MessageState, contribution
from streams.retention import Retired


class PartitionAggregates:
    """Sums of message contributions per (stage-1 partition, campaign), and which changed."""

    def __init__(self) -> None:
        self._sums: dict[int, dict[str, list[int]]] = {}
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
            row = sums.setdefault(after.campaign_id, [0, 0, 0, 0, 0, 0])
            for i in range(6):
                row[i] += new[i] - old[i]
            self._workspaces.setdefault(after.campaign_id, after.workspace_id)
            self._dirty.add((partition, after.campaign_id))
        return old, new

    def rebuild(
        self, partition: int, states: Iterable[MessageState], retired: Iterable[Retired] = ()
    ) -> None:
        """Recompute a partition's sums from its messages and the counters of those dropped after
        the retention period; every campaign in it is sent again."""
        sums: dict[str, list[int]] = {}
        for entry in retired:
            c = entry.counters
            sums[entry.campaign_id] = [
                c.dispatched,
                c.sent,
                c.delivered,
                c.read,
                c.played,
                c.failed,
            ]
            self._workspaces.setdefault(entry.campaign_id, entry.workspace_id)
        for state in states:
            if not state.campaign_id:
                continue
            row = sums.setdefault(state.campaign_id, [0, 0, 0, 0, 0, 0])
            for i, value in enumerate(contribution(state)):
                row[i] += value
            self._workspaces.setdefault(state.campaign_id, state.workspace_id)
        self._sums[partition] = sums
        self._dirty.difference_update({key for key in self._dirty if key[0] == partition})
        self._dirty.update((partition, campaign) for campaign in sums)

    def drop(self, partition: int) -> None:
        """Forget a partition this worker no longer owns."""
        self._sums.pop(partition, None)
        self._dirty.difference_update({key for key in self._dirty if key[0] == partition})

    @property
    def partitions(self) -> set[int]:
        return set(self._sums)

    def counters(self, partition: int, campaign_id: str) -> Counters:
        row = self._sums.get(partition, {}).get(campaign_id, [0, 0, 0, 0, 0, 0])
        return Counters(
            dispatched=row[0],
            sent=row[1],
            delivered=row[2],
            read=row[3],
            played=row[4],
            failed=row[5],
        )

    def take_dirty(self) -> list[CampaignPartial]:
        """The partials changed since the last call; the caller must send them or call
        :meth:`mark_dirty` with them again."""
        taken = [
            CampaignPartial(
                campaign_id=campaign,
                workspace_id=self._workspaces.get(campaign, ""),
                source_partition=partition,
                counters=self.counters(partition, campaign),
            )
            for partition, campaign in sorted(self._dirty)
            if partition in self._sums
        ]
        self._dirty.clear()
        return taken

    def mark_dirty(self, partials: Iterable[CampaignPartial]) -> None:
        self._dirty.update((p.source_partition, p.campaign_id) for p in partials)

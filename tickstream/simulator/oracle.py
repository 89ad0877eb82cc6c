"""The oracle: a campaign's counts recomputed from scratch from the events it was sent.

Used by the worker's tests, its benchmark and the simulator, so that every one of them checks the
pipeline against the same plain reading of the status rules (``contract/status.py``) —
deliberately not the worker's join code.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from contract.events import Attempt, Dispatch, MessageEvent, Skip
from contract.status import RANK_OF


@dataclass(frozen=True, slots=True)
class Expected:
    """The counts a campaign must end with."""

    dispatched: int
    sent: int
    delivered: int
    read: int
    played: int
    failed: int
    skipped: int = 0


def oracle(events: Iterable[MessageEvent]) -> dict[str, Expected]:
    """Counts per campaign, recomputed from scratch by the letter of the status rules."""
    campaign_of: dict[str, str] = {}
    ranks: dict[str, int] = defaultdict(int)
    failed: set[str] = set()
    attempted: set[tuple[str, str]] = set()
    skipped: set[tuple[str, str]] = set()
    for event in events:
        if isinstance(event, Dispatch):
            campaign_of.setdefault(event.message_id, event.campaign_id)
            attempted.add((event.campaign_id, event.recipient))
        elif isinstance(event, Skip):
            skipped.add((event.campaign_id, event.recipient))
        elif isinstance(event, Attempt):
            continue  # the worker's own bookkeeping, never sent by a sender
        elif event.status == "failed":
            failed.add(event.message_id)
        else:
            ranks[event.message_id] = max(ranks[event.message_id], RANK_OF[event.status])
    tallies: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0, 0, 0])
    for campaign, recipient in skipped:  # a dispatch after a skip cancels it
        tallies[campaign][6] += (campaign, recipient) not in attempted
    for message_id, campaign in campaign_of.items():
        rank = ranks[message_id]
        row = tallies[campaign]
        row[0] += 1
        if rank >= 2:  # proof of delivery beats a failure report
            row[1] += 1
            row[2] += 1
            row[3] += rank >= 3
            row[4] += rank >= 4
        elif message_id in failed:
            row[5] += 1
        elif rank == 1:
            row[1] += 1
    return {campaign: Expected(*row) for campaign, row in tallies.items()}

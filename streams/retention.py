"""How long message state is kept, and how dropping it keeps the campaign counters. Pure.

Acks can arrive for weeks (Meta retries for 7 days, reads come late), so a campaign message's
state is kept ``MESSAGE_RETENTION_DAYS`` after its last event; a message that never joined a
campaign (an ordinary chat) only ``ORPHAN_RETENTION_DAYS``. Dropping a campaign message must not
lower its campaign's counters, so its contribution moves into a *retired* entry of its
(partition, campaign), kept in the same table under a key no message id has.

The new retired entry and the deletes of the messages it now counts are written as one Kafka
record batch to the changelog partition: a batch is appended whole or not at all, so after any
crash the recovered table holds either the messages or the entry that counts them, never both and
never neither.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime

import msgspec

from contract.events import Counters, encode
from contract.status import earliest
from streams.insights import NO_FACETS, Facets, facets, failure_title_of, join_titles, move
from streams.message_state import MessageState, contribution
from streams.stats import add_counters, counters_of
from streams.write_behind import Write

RETIRED_PREFIX = b"\x00retired\x00"
# Deletes per atomic group: keeps each group's record batch far below Kafka's 1 MiB.
CHUNK = 1000


class Retired(msgspec.Struct, frozen=True, kw_only=True):
    """The counters of a campaign's dropped messages in one stage-1 partition."""

    campaign_id: str
    workspace_id: str
    partition: int
    counters: Counters
    started_at: datetime | None = None
    facets: Facets = {}
    titles: dict[str, str] = {}


def retired_key(partition: int, campaign_id: str) -> bytes:
    return RETIRED_PREFIX + f"{partition}\x00{campaign_id}".encode()


def is_retired_key(key: bytes) -> bool:
    return key.startswith(RETIRED_PREFIX)


def sweep(
    partition: int,
    messages: Iterable[tuple[bytes, MessageState]],
    retired_of: Callable[[str], Retired | None],
    campaign_cutoff: datetime,
    orphan_cutoff: datetime,
) -> tuple[list[list[Write]], dict[str, Retired]]:
    """Groups of writes, each to be applied atomically, and the retired entries they write.

    ``retired_of`` gives a campaign's entry as stored before the sweep (None: none yet); a sweep
    over a few messages at a time thus never holds more than those and their campaigns' entries.
    """
    expired = [
        (key, state)
        for key, state in messages
        if state.last_event_at is not None
        and state.last_event_at < (campaign_cutoff if state.campaign_id else orphan_cutoff)
    ]
    return retire(partition, expired, retired_of)


def retire(
    partition: int,
    messages: Iterable[tuple[bytes, MessageState]],
    retired_of: Callable[[str], Retired | None],
) -> tuple[list[list[Write]], dict[str, Retired]]:
    """Drop ``messages`` from the table and keep their counts: what a sweep does with expired
    state, and stage 1 with an erased skip (docs/operations.md, "Erasure"). A message of no
    campaign counts nothing and is only deleted."""
    orphans: list[bytes] = []
    expired: dict[str, list[tuple[bytes, MessageState]]] = {}
    for key, state in messages:
        if state.campaign_id:
            expired.setdefault(state.campaign_id, []).append((key, state))
        else:
            orphans.append(key)
    groups: list[list[Write]] = [
        [(key, None) for key in orphans[i : i + CHUNK]] for i in range(0, len(orphans), CHUNK)
    ]
    entries: dict[str, Retired] = {}
    for campaign_id, items in expired.items():
        for i in range(0, len(items), CHUNK):
            chunk = items[i : i + CHUNK]
            entry = (
                entries.get(campaign_id)
                or retired_of(campaign_id)
                or Retired(
                    campaign_id=campaign_id,
                    workspace_id=chunk[0][1].workspace_id,
                    partition=partition,
                    counters=Counters(),
                )
            )
            counters, started = entry.counters, entry.started_at
            summed, titles = dict(entry.facets), dict(entry.titles)
            for _, state in chunk:
                counted = contribution(state)
                counters = add_counters(counters, counters_of(counted))
                move(summed, NO_FACETS, facets(state, counted))
                if titled := failure_title_of(state, counted):
                    join_titles(titles, *titled)
                if not state.skipped:
                    started = earliest(started, state.dispatched_at)
            entry = msgspec.structs.replace(
                entry, counters=counters, started_at=started, facets=summed, titles=titles
            )
            entries[campaign_id] = entry
            groups.append(
                [(retired_key(partition, campaign_id), encode(entry))]
                + [(key, None) for key, _ in chunk]
            )
    return groups, entries

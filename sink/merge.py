"""How the sink folds many records into one row per key, in Python and in SQL. Pure, no I/O.

A batch may hold several records for the same row, and ``INSERT … ON CONFLICT`` cannot touch one
row twice in a statement, so a batch is first reduced here to one row per key. The database then
merges that row into what it already holds with the SAME rules (see :mod:`sink.store`), so the
table ends up as if every record had been merged one by one, in any order, any number of times.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

import msgspec

from contract.events import MessageStatus, Snapshot, join_tags
from contract.status import NAME_OF_RANK, earliest, effective_status

# A missing time sorts after every real one, as PostgreSQL's 'infinity' does.
NEVER = datetime.max.replace(tzinfo=UTC)
RANKS = range(len(NAME_OF_RANK))


def _failure(status: MessageStatus) -> tuple[datetime, str, str]:
    return (status.failed_at or NEVER, status.error_code, status.error_title)


def _error_of(a: MessageStatus, b: MessageStatus) -> tuple[str, str]:
    """The error of the earliest failure report; equal times keep the larger (code, title).

    This is the worker's own rule (``streams.message_state``), so the error stays the one that
    belongs to ``failed_at`` and the choice never depends on arrival order.
    """
    a_at, a_code, a_title = _failure(a)
    b_at, b_code, b_title = _failure(b)
    if (b_at, a_code, a_title) < (a_at, b_code, b_title):
        return b_code, b_title
    return a_code, a_title


def _skip_reason_of(a: MessageStatus, b: MessageStatus) -> tuple[str, str]:
    """The larger (code, reason): a given reason beats none, and the choice is order-free.

    A skip row records no time per report, so "earliest" (the error's rule) has nothing to
    compare; the largest pair is the commutative, idempotent choice that keeps a known reason.
    """
    return max((a.skip_reason_code, a.skip_reason), (b.skip_reason_code, b.skip_reason))


def row_status(max_rank: int, failed: bool, skipped: bool, attempted: bool) -> str:
    """The ``status`` column: a skip row says whether its recipient was attempted after all;
    any other row has the effective status of the message.
    """
    if skipped:
        return "attempted" if attempted else "skipped"
    return effective_status(max_rank, failed)


def merge_participants(a: dict[str, int], b: dict[str, int]) -> dict[str, int]:
    """Per participant, the highest rank either side saw."""
    if not b:
        return a
    if not a:
        return b
    merged = dict(a)
    for participant, rank in b.items():
        merged[participant] = max(merged.get(participant, rank), rank)
    return merged


def merge_status(a: MessageStatus, b: MessageStatus) -> MessageStatus:
    """Both records of one message joined: nothing known by either is lowered or forgotten.

    Commutative, associative and idempotent for records of one campaign (the message's campaign
    and workspace are those of ``a``: a message never moves to another campaign).
    """
    max_rank = max(a.max_rank, b.max_rank)
    failed = a.failed or b.failed
    error_code, error_title = _error_of(a, b)
    skipped = a.skipped or b.skipped
    attempted = a.attempted or b.attempted
    skip_reason_code, skip_reason = _skip_reason_of(a, b)
    # erased wins for good and takes the numbers with it, here and in the table's upsert
    # (sink.store), so no record read again from before the erasure brings them back
    # (docs/operations.md, "Erasure").
    erased = a.erased or b.erased
    return msgspec.structs.replace(
        a,
        recipient="" if erased else max(a.recipient, b.recipient),
        status=row_status(max_rank, failed, skipped, attempted),
        max_rank=max_rank,
        failed=failed,
        updated_at=max(a.updated_at, b.updated_at),
        dispatched_at=earliest(a.dispatched_at, b.dispatched_at),
        sent_at=earliest(a.sent_at, b.sent_at),
        delivered_at=earliest(a.delivered_at, b.delivered_at),
        read_at=earliest(a.read_at, b.read_at),
        played_at=earliest(a.played_at, b.played_at),
        failed_at=earliest(a.failed_at, b.failed_at),
        error_code=error_code,
        error_title=error_title,
        participants={} if erased else merge_participants(a.participants, b.participants),
        skipped=skipped,
        attempted=attempted,
        skip_reason_code=skip_reason_code,
        skip_reason=skip_reason,
        # a label beats none (""/[] sort first); two labels: the larger, as the worker joins them
        template=max(a.template, b.template),
        variant=max(a.variant, b.variant),
        tags=join_tags(a.tags, b.tags),
        erased=erased,
    )


def _numbers_erased(row: MessageStatus) -> MessageStatus:
    """An erased record shows no number even when it comes alone (a merge blanks the rest)."""
    if row.erased and (row.recipient or row.participants):
        return msgspec.structs.replace(row, recipient="", participants={})
    return row


def merge_statuses(statuses: Iterable[MessageStatus]) -> list[MessageStatus]:
    """One merged row per message id, ordered by id (a fixed lock order for concurrent sinks)."""
    merged: dict[str, MessageStatus] = {}
    for status in statuses:
        known = merged.get(status.message_id)
        merged[status.message_id] = status if known is None else merge_status(known, status)
    return [_normalized(_numbers_erased(row)) for _, row in sorted(merged.items())]


def _normalized(row: MessageStatus) -> MessageStatus:
    """The status column is always recomputed, whatever the record claimed; the tags are always
    a sorted set of at most ``MAX_TAGS``, so PostgreSQL can join them without sorting again."""
    status = row_status(row.max_rank, row.failed, row.skipped, row.attempted)
    tags = join_tags(row.tags, [])
    if row.status == status and row.tags == tags:
        return row
    return msgspec.structs.replace(row, status=status, tags=tags)


def latest_snapshots(snapshots: Iterable[Snapshot]) -> list[Snapshot]:
    """Per campaign, the snapshot with the highest ``seq`` (an older one never wins)."""
    latest: dict[str, Snapshot] = {}
    for snapshot in snapshots:
        known = latest.get(snapshot.campaign_id)
        if known is None or snapshot.seq >= known.seq:
            latest[snapshot.campaign_id] = snapshot
    return [latest[key] for key in sorted(latest)]


def latest_windows(snapshots: Iterable[Snapshot]) -> list[Snapshot]:
    """Per campaign and window start, the snapshot with the highest ``seq``."""
    latest: dict[tuple[str, datetime], Snapshot] = {}
    for snapshot in snapshots:
        key = (snapshot.campaign_id, snapshot.window.start)
        known = latest.get(key)
        if known is None or snapshot.seq >= known.seq:
            latest[key] = snapshot
    return [latest[key] for key in sorted(latest)]


def _is(expression: str, value: bool) -> str:
    return expression if value else f"NOT {expression}"


def row_status_sql(rank: str, failed: str, skipped: str, attempted: str) -> str:
    """A SQL ``CASE`` giving :func:`row_status` of four SQL expressions.

    Generated by evaluating the Python function on its whole domain, so the database cannot
    disagree with it (a test evaluates both). Flags whose status does not depend on the rank get
    one arm; elsewhere a rank outside the domain yields NULL, which the NOT NULL column refuses.
    """
    arms = []
    for s, a in ((True, False), (True, True), (False, False), (False, True)):
        flags = f"{_is(skipped, s)} AND {_is(attempted, a)}"
        domain = [(r, f) for r in RANKS for f in (False, True)]
        found = {row_status(r, f, s, a) for r, f in domain}
        if len(found) == 1:
            arms.append(f"WHEN {flags} THEN '{found.pop()}'")
            continue
        arms.extend(
            f"WHEN {flags} AND {rank} = {r} AND {_is(failed, f)} THEN '{row_status(r, f, s, a)}'"
            for r, f in domain
        )
    return f"CASE {' '.join(arms)} END"

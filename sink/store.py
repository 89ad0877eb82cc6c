"""Set-based writes of one batch into PostgreSQL: one statement per table, whatever the batch size.

Every statement is ``INSERT … SELECT … FROM json_to_recordset(%(rows)s) ON CONFLICT … DO UPDATE``:
the batch travels as ONE JSON array parameter (msgspec encodes it in C; PostgreSQL parses it in
C), one round trip per table, and the conflict clause merges with the rules of
:mod:`sink.merge`, so a replayed record changes nothing. (Array parameters per column, the first
version, spent most of their time adapting each value in Python: about a third of the speed.)
Columns and their types come from :mod:`contract.schema`, the schema's one description.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from contract.events import (
    MAX_TAGS,
    CampaignRegistration,
    MessageStatus,
    MessageStatusBatch,
    Snapshot,
    encode,
)
from contract.schema import (
    campaign_stats,
    campaign_stats_windows,
    campaigns,
    column_names,
    message_status,
)

from .merge import latest_snapshots, latest_windows, merge_statuses, row_status_sql
from .records import DeadLetter, Item, Origin
from .registrations import Registration, dead_letter, refusal, settle

log = logging.getLogger("sink")

_DIALECT = postgresql.dialect()
_json = msgspec.json.Encoder()


def _value(column: sa.Column[Any]) -> str:
    """``u.<column>``, or the column's server default where the JSON leaves the key out."""
    default = column.server_default
    literal = getattr(default, "arg", None)
    if isinstance(literal, str):
        return f"COALESCE(u.{column.name}, '{literal}')"
    return f"u.{column.name}"


def _insert(
    table: sa.Table, leave_out: Sequence[str] = (), computed: Mapping[str, str] = {}
) -> str:
    """``INSERT INTO table AS t (…) SELECT … FROM json_to_recordset(%(rows)s::json) AS u(…)``:
    every column but those left to the database (``leave_out``) or ``computed`` in SQL."""
    columns = column_names(table, leave_out=[*leave_out, *computed])
    record = ", ".join(f"{name} {table.c[name].type.compile(dialect=_DIALECT)}" for name in columns)
    selected = [_value(table.c[name]) for name in columns]
    return (
        f"INSERT INTO {table.name} AS t ({', '.join([*columns, *computed])}) "
        f"SELECT {', '.join([*selected, *computed.values()])} "
        f"FROM json_to_recordset(%(rows)s::json) AS u({record})"
    )


def _rows(rows: Sequence[Any]) -> dict[str, str]:
    """The parameters of an :func:`_insert` statement: the rows as one JSON array."""
    return {"rows": _json.encode(rows).decode()}


# --------------------------------------------------------------------------- message_status

# A message's nullable times are the first-seen time of each status: the earliest one wins.
_FIRST_SEEN_TIMES = [
    column.name
    for column in message_status.c
    if isinstance(column.type, sa.DateTime) and column.nullable
]
# The excluded (new) failure wins when it is earlier, or as early and its (code, title) larger:
# merge._error_of, written as one row comparison.
_NEW_ERROR_WINS = (
    "ROW(COALESCE(excluded.failed_at, 'infinity'), "
    't.error_code COLLATE "C", t.error_title COLLATE "C") < '
    "ROW(COALESCE(t.failed_at, 'infinity'), "
    'excluded.error_code COLLATE "C", excluded.error_title COLLATE "C")'
)
_MERGED_PARTICIPANTS = (
    "CASE WHEN excluded.participants = '{}'::jsonb THEN t.participants "
    "WHEN t.participants = '{}'::jsonb THEN excluded.participants "
    "ELSE (SELECT jsonb_object_agg(p.key, p.rank) FROM ("
    "SELECT e.key, max(e.value::int) AS rank FROM ("
    "SELECT * FROM jsonb_each_text(t.participants) "
    "UNION ALL SELECT * FROM jsonb_each_text(excluded.participants)) AS e "
    "GROUP BY e.key) AS p) END"
)
# merge._skip_reason_of: the larger (code, reason) pair.
_NEW_SKIP_REASON_WINS = (
    'ROW(excluded.skip_reason_code COLLATE "C", excluded.skip_reason COLLATE "C") > '
    'ROW(t.skip_reason_code COLLATE "C", t.skip_reason COLLATE "C")'
)
# merge.join_tags: both sides are sorted sets of at most MAX_TAGS (merge_statuses sends them so,
# and the table holds nothing else), so equal or one-sided tags need no work; otherwise the
# union, sorted by code point (COLLATE "C", as Python sorts), the smallest MAX_TAGS kept.
_MERGED_TAGS = (
    "CASE WHEN excluded.tags = t.tags OR excluded.tags = '[]'::jsonb THEN t.tags "
    "WHEN t.tags = '[]'::jsonb THEN excluded.tags "
    'ELSE (SELECT jsonb_agg(s.tag ORDER BY s.tag COLLATE "C") FROM ('
    'SELECT DISTINCT e.tag COLLATE "C" AS tag '
    "FROM jsonb_array_elements_text(t.tags || excluded.tags) AS e(tag) "
    f"ORDER BY 1 LIMIT {MAX_TAGS}) AS s) END"
)
# merge.merge_status: erased wins for good and blanks the number whatever either side holds, so a
# record read again from before the erasure cannot bring it back (docs/operations.md, "Erasure").
_ERASED = "(t.erased OR excluded.erased)"
UPSERT_STATUS = (
    _insert(
        message_status,
        computed={
            "status": row_status_sql(
                "u.max_rank",
                "u.failed",
                "COALESCE(u.skipped, false)",
                "COALESCE(u.attempted, false)",
            )
        },
    )
    + " ON CONFLICT (message_id) DO UPDATE SET "
    + ", ".join(
        [
            f"erased = {_ERASED}",
            f"recipient = CASE WHEN {_ERASED} THEN '' "
            'ELSE GREATEST(t.recipient COLLATE "C", excluded.recipient COLLATE "C") END',
            "max_rank = GREATEST(t.max_rank, excluded.max_rank)",
            "failed = t.failed OR excluded.failed",
            "status = "
            + row_status_sql(
                "GREATEST(t.max_rank, excluded.max_rank)",
                "(t.failed OR excluded.failed)",
                "(t.skipped OR excluded.skipped)",
                "(t.attempted OR excluded.attempted)",
            ),
            "skipped = t.skipped OR excluded.skipped",
            "attempted = t.attempted OR excluded.attempted",
            f"skip_reason_code = CASE WHEN {_NEW_SKIP_REASON_WINS} "
            "THEN excluded.skip_reason_code ELSE t.skip_reason_code END",
            f"skip_reason = CASE WHEN {_NEW_SKIP_REASON_WINS} "
            "THEN excluded.skip_reason ELSE t.skip_reason END",
            # PostgreSQL's LEAST ignores NULLs: the earliest known time, NULL only if none is.
            *(f"{name} = LEAST(t.{name}, excluded.{name})" for name in _FIRST_SEEN_TIMES),
            f"error_code = CASE WHEN {_NEW_ERROR_WINS} "
            "THEN excluded.error_code ELSE t.error_code END",
            f"error_title = CASE WHEN {_NEW_ERROR_WINS} "
            "THEN excluded.error_title ELSE t.error_title END",
            f"participants = CASE WHEN {_ERASED} THEN '{{}}'::jsonb "
            f"ELSE {_MERGED_PARTICIPANTS} END",
            # merge.merge_status: the larger label, so a given one beats none
            'template = GREATEST(t.template COLLATE "C", excluded.template COLLATE "C")',
            'variant = GREATEST(t.variant COLLATE "C", excluded.variant COLLATE "C")',
            f"tags = {_MERGED_TAGS}",
            "updated_at = GREATEST(t.updated_at, excluded.updated_at)",
        ]
    )
)


def status_params(rows: Sequence[MessageStatus]) -> dict[str, str]:
    # The records' own field names are the columns; keys left out (defaults) are COALESCEd.
    return _rows(rows)


# --------------------------------------------------------------------------- campaigns

# created_at is the database's own clock; a key the JSON leaves out takes the column's default.
_INSERT_CAMPAIGNS = _insert(campaigns, leave_out=["created_at"])
# A campaign never changes workspace (rows refused here are not RETURNed); an empty uuid or name
# means "not given" and keeps what is known.
UPSERT_REGISTRATIONS = (
    _INSERT_CAMPAIGNS + " ON CONFLICT (campaign_id) DO UPDATE SET "
    "campaign_uuid = CASE WHEN excluded.campaign_uuid = '' THEN t.campaign_uuid "
    "ELSE excluded.campaign_uuid END, "
    "name = CASE WHEN excluded.name = '' THEN t.name ELSE excluded.name END, "
    "total_recipients = excluded.total_recipients, updated_at = excluded.updated_at "
    "WHERE t.workspace_id = excluded.workspace_id RETURNING campaign_id"
)
OWNERS = (
    "SELECT campaign_id, workspace_id FROM campaigns WHERE campaign_id = ANY(%(ids)s) FOR UPDATE"
)

# A snapshot names a campaign that may never have been registered: make sure its row exists (its
# total_recipients, unknown to a snapshot, at the default), and fill in a uuid or name still
# unknown. Never touches another workspace's campaign.
ENSURE_CAMPAIGNS = (
    _INSERT_CAMPAIGNS + " ON CONFLICT (campaign_id) DO UPDATE SET "
    "campaign_uuid = CASE WHEN t.campaign_uuid = '' THEN excluded.campaign_uuid "
    "ELSE t.campaign_uuid END, "
    "name = CASE WHEN t.name = '' THEN excluded.name ELSE t.name END "
    "WHERE t.workspace_id = excluded.workspace_id AND ("
    "(t.campaign_uuid = '' AND excluded.campaign_uuid <> '') "
    "OR (t.name = '' AND excluded.name <> ''))"
)


def registration_params(rows: Sequence[Registration]) -> dict[str, str]:
    return _rows(
        [
            {
                "campaign_id": r.campaign.campaign_id,
                "workspace_id": r.campaign.workspace_id,
                "campaign_uuid": r.campaign.uuid,
                "name": r.campaign.name,
                "total_recipients": r.campaign.total_recipients,
                "updated_at": r.updated_at,
            }
            for r in rows
        ]
    )


def known_campaign_params(snapshots: Sequence[Snapshot]) -> dict[str, str]:
    """Per campaign: workspace, uuid and name of its latest snapshot; ``updated_at`` the time of
    its earliest one, which a replay from the start of the log reproduces exactly."""
    first_seen: dict[str, datetime] = {}
    for snapshot in snapshots:
        known = first_seen.get(snapshot.campaign_id)
        if known is None or snapshot.timestamp < known:
            first_seen[snapshot.campaign_id] = snapshot.timestamp
    return _rows(
        [
            {
                "campaign_id": s.campaign_id,
                "workspace_id": s.workspace_id,
                "campaign_uuid": s.campaign_uuid,
                "name": s.campaign_name,
                "updated_at": first_seen[s.campaign_id],
            }
            for s in latest_snapshots(snapshots)
        ]
    )


# --------------------------------------------------------------------------- snapshots


def _upsert_highest_seq(table: sa.Table) -> str:
    """Every column of the row replaced, unless the stored row has a higher ``seq``: a snapshot
    written late or replayed never overwrites a newer one."""
    key = [column.name for column in table.primary_key]
    return (
        _insert(table)
        + f" ON CONFLICT ({', '.join(key)}) DO UPDATE SET "
        + ", ".join(f"{name} = excluded.{name}" for name in column_names(table, leave_out=key))
        + " WHERE t.seq <= excluded.seq"
    )


UPSERT_STATS = _upsert_highest_seq(campaign_stats)
UPSERT_WINDOWS = _upsert_highest_seq(campaign_stats_windows)


def stats_params(rows: Sequence[Snapshot]) -> dict[str, str]:
    return _rows(
        [
            {
                **msgspec.structs.asdict(s.statistics),
                "campaign_id": s.campaign_id,
                "workspace_id": s.workspace_id,
                "campaign_uuid": s.campaign_uuid,
                "seq": s.seq,
                "snapshot": s,
                "insights": s.insights,
            }
            for s in rows
        ]
    )


def window_params(rows: Sequence[Snapshot]) -> dict[str, str]:
    return _rows(
        [
            {
                **msgspec.structs.asdict(s.statistics),
                **msgspec.structs.asdict(s.window),
                "campaign_id": s.campaign_id,
                "workspace_id": s.workspace_id,
                "seq": s.seq,
                "window_start": s.window.start,
                "window_end": s.window.end,
            }
            for s in rows
        ]
    )


# --------------------------------------------------------------------------- a batch


@dataclass(slots=True)
class Written:
    """What one batch wrote (rows per table) and the records it refused (dead letters)."""

    rows: dict[str, int] = field(default_factory=dict)
    refused: list[DeadLetter] = field(default_factory=list)


def _split(
    items: Iterable[Item],
) -> tuple[list[Snapshot], list[MessageStatus], list[tuple[CampaignRegistration, Origin]]]:
    snapshots: list[Snapshot] = []
    statuses: list[MessageStatus] = []
    registrations: list[tuple[CampaignRegistration, Origin]] = []
    for item in items:
        payload = item.payload
        if isinstance(payload, Snapshot):
            snapshots.append(payload)
        elif isinstance(payload, MessageStatusBatch):
            statuses.extend(payload.statuses)
        else:
            registrations.append((payload, item.origin))
    return snapshots, statuses, registrations


def _register(
    conn: sa.Connection, registrations: list[tuple[CampaignRegistration, Origin]], written: Written
) -> None:
    ids = sorted({campaign.campaign_id for campaign, _ in registrations})
    owners: dict[str, str] = {
        row[0]: row[1] for row in conn.exec_driver_sql(OWNERS, {"ids": ids}).all()
    }
    accepted, written.refused = settle(registrations, owners)
    if not accepted:
        return
    applied = {
        row[0]
        for row in conn.exec_driver_sql(UPSERT_REGISTRATIONS, registration_params(accepted)).all()
    }
    # A campaign created meanwhile by a snapshot of another workspace: refused by the WHERE.
    origin_of = {campaign.campaign_id: origin for campaign, origin in registrations}
    for registration in accepted:
        campaign = registration.campaign
        if campaign.campaign_id not in applied:
            reason = refusal(campaign.campaign_id, "another workspace", campaign.workspace_id)
            written.refused.append(dead_letter(campaign, origin_of[campaign.campaign_id], reason))
    written.rows[campaigns.name] = len(applied)


def write_batch(conn: sa.Connection, items: Iterable[Item]) -> Written:
    """Write every item in the caller's transaction: a few statements, one per table."""
    snapshots, statuses, registrations = _split(items)
    written = Written()
    if registrations:
        _register(conn, registrations, written)
    if snapshots:
        latest = latest_snapshots(snapshots)
        conn.exec_driver_sql(ENSURE_CAMPAIGNS, known_campaign_params(snapshots))
        conn.exec_driver_sql(UPSERT_STATS, stats_params(latest))
        windows = latest_windows(snapshots)
        conn.exec_driver_sql(UPSERT_WINDOWS, window_params(windows))
        written.rows[campaign_stats.name] = len(latest)
        written.rows[campaign_stats_windows.name] = len(windows)
    if statuses:
        rows = merge_statuses(statuses)
        conn.exec_driver_sql(UPSERT_STATUS, status_params(rows))
        written.rows[message_status.name] = len(rows)
    return written


def _is_poison(exc: BaseException) -> bool:
    """A write error that no retry can cure (the data itself), unlike a lost connection."""
    return isinstance(exc, sa.exc.DataError | sa.exc.IntegrityError)


def write_transaction(engine: sa.Engine, items: Sequence[Item]) -> Written:
    """The batch in one transaction of its own.

    Should PostgreSQL refuse a value in it, no retry could ever write the batch: its records are
    then written one by one and only the refused ones become dead letters. Any other error (a
    lost connection, a missing table) is raised, for the caller to retry.
    """
    try:
        with engine.begin() as conn:
            return write_batch(conn, items)
    except Exception as exc:
        if not _is_poison(exc):
            raise
        log.warning("PostgreSQL refused a batch (%s); writing its records one by one", exc)
    written = Written()
    for item in items:
        try:
            with engine.begin() as conn:
                one = write_batch(conn, [item])
        except Exception as exc:
            if not _is_poison(exc):
                raise
            reason = f"PostgreSQL refused the record: {exc}".splitlines()[0]
            written.refused.append(DeadLetter(item.origin, reason, None, encode(item.payload)))
            continue
        written.refused.extend(one.refused)
        for table, count in one.rows.items():
            written.rows[table] = written.rows.get(table, 0) + count
    return written

"""Everything the gateway reads from PostgreSQL (the sink's tables), with SQLAlchemy 2 async on
psycopg 3: the event loop that serves 10,000 sockets never blocks on a query, and the CSV export
reads through a server-side cursor (``stream`` + ``yield_per``) so memory stays bounded.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from contract.events import Counters, DecodeError, Snapshot, decode_snapshot
from contract.insights import BUCKETS
from contract.schema import (
    WINDOW_CHANGES,
    WINDOW_TOTALS,
    campaign_stats,
    campaigns,
    column_names,
    message_status,
    revoked_tokens,
)

# What the recipients page and the CSV export show of a message: every column but its campaign
# and workspace (the request named them) and the sink's bookkeeping behind its status.
RECIPIENT_COLUMNS = column_names(
    message_status,
    leave_out=(
        "campaign_id",
        "workspace_id",
        "max_rank",
        "failed",
        "participants",
        "updated_at",
        "skipped",
        "attempted",
        "erased",  # shown as an empty recipient (docs/operations.md, "Erasure")
    ),
)
# A skip row whose recipient was dispatched after all: the recipient's message row stands for it.
ATTEMPTED = "attempted"
# At most this many templates are summed per request (the most dispatched): the answer stays
# small however many templates a workspace ever used.
MAX_TEMPLATES = 1000


@dataclass(frozen=True, slots=True)
class CampaignRef:
    campaign_id: str
    workspace_id: str


def iso(value: datetime | None) -> str | None:
    """UTC ISO-8601 with ``Z``, as in the snapshots."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _snapshot_of(text: str | None) -> Snapshot | None:
    if text is None:
        return None
    try:
        return decode_snapshot(text.encode())
    except DecodeError:
        return None


async def load_snapshots(engine: AsyncEngine) -> list[Snapshot]:
    """The stored latest snapshot of every campaign (rows that no longer decode are skipped)."""
    stmt = sa.select(sa.cast(campaign_stats.c.snapshot, sa.Text))
    async with engine.connect() as conn:
        rows = (await conn.execute(stmt)).scalars().all()
    return [s for s in map(_snapshot_of, rows) if s is not None]


def storable(text: str) -> bool:
    """Whether PostgreSQL can hold ``text`` (no NUL, valid UTF-8). Anything else names nothing
    stored, and psycopg would refuse to send it, so it is answered before any query."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return "\x00" not in text


async def find_campaign(engine: AsyncEngine, ref: str, workspace_id: str) -> CampaignRef | None:
    """The campaign of ``workspace_id`` named ``ref``, from ``campaigns`` or, before it is
    registered there, from ``campaign_stats``. The id is tried before the uuid: another
    workspace's names never take part, and within one workspace an id is never shadowed."""
    ranked = sa.union_all(
        *(
            sa.select(table.c.campaign_id, sa.literal(rank).label("rank")).where(
                table.c.workspace_id == workspace_id, table.c[column] == ref
            )
            for rank, (column, table) in enumerate(
                itertools.product(("campaign_id", "campaign_uuid"), (campaigns, campaign_stats))
            )
        )
    ).subquery()
    stmt = sa.select(ranked.c.campaign_id).order_by(ranked.c.rank).limit(1)
    async with engine.connect() as conn:
        found = (await conn.execute(stmt)).scalar()
    return None if found is None else CampaignRef(found, workspace_id)


async def revoked_kids(engine: AsyncEngine) -> frozenset[str]:
    """The key ids of every revoked workspace token."""
    async with engine.connect() as conn:
        return frozenset((await conn.execute(sa.select(revoked_tokens.c.kid))).scalars())


async def stored_snapshot(engine: AsyncEngine, campaign_id: str) -> Snapshot | None:
    stmt = sa.select(sa.cast(campaign_stats.c.snapshot, sa.Text)).where(
        campaign_stats.c.campaign_id == campaign_id
    )
    async with engine.connect() as conn:
        return _snapshot_of((await conn.execute(stmt)).scalar())


async def list_campaigns(engine: AsyncEngine, workspace_id: str) -> list[dict[str, Any]]:
    """Campaigns of a workspace: registered ones and those known only from their statistics."""
    c, s = campaigns, campaign_stats
    joined = c.join(s, s.c.campaign_id == c.c.campaign_id, full=True)
    stmt = (
        sa.select(
            sa.func.coalesce(c.c.campaign_id, s.c.campaign_id).label("campaign_id"),
            sa.func.coalesce(sa.func.nullif(c.c.campaign_uuid, ""), s.c.campaign_uuid, "").label(
                "campaign_uuid"
            ),
            sa.func.coalesce(c.c.workspace_id, s.c.workspace_id).label("workspace_id"),
            sa.func.coalesce(c.c.name, "").label("name"),
            sa.func.coalesce(c.c.total_recipients, 0).label("total_recipients"),
            sa.cast(s.c.snapshot, sa.Text).label("snapshot"),
            sa.func.greatest(c.c.updated_at, s.c.updated_at).label("updated_at"),
        )
        .select_from(joined)
        .where(sa.func.coalesce(c.c.workspace_id, s.c.workspace_id) == workspace_id)
        .order_by("campaign_id")
    )
    async with engine.connect() as conn:
        rows = (await conn.execute(stmt)).mappings().all()
    return [dict(row) | {"snapshot": _snapshot_of(row["snapshot"])} for row in rows]


async def series(
    engine: AsyncEngine, campaign_id: str, start: datetime, end: datetime, step: float
) -> list[dict[str, Any]]:
    """Windows of ``[start, end)`` summed into ``step``-second buckets; the cumulative totals of
    a bucket are those at the end of its last window."""
    sums = ", ".join(f'sum("{n}")::bigint AS "{n}"' for n in WINDOW_CHANGES)
    lasts = ", ".join(
        f'(array_agg("{n}" ORDER BY window_start DESC))[1] AS "{n}"' for n in WINDOW_TOTALS
    )
    stmt = sa.text(
        f"SELECT floor(extract(epoch FROM window_start - :start) / :step)::bigint AS bucket, "
        f"{sums}, {lasts} FROM campaign_stats_windows "
        "WHERE campaign_id = :campaign AND window_start >= :start AND window_start < :end "
        "GROUP BY bucket ORDER BY bucket"
    )
    params = {"campaign": campaign_id, "start": start, "end": end, "step": step}
    async with engine.connect() as conn:
        rows = (await conn.execute(stmt, params)).mappings().all()
    points = []
    for row in rows:
        bucket_start = start.timestamp() + row["bucket"] * step
        point: dict[str, Any] = {
            "start": iso(datetime.fromtimestamp(bucket_start, UTC)),
            "end": iso(datetime.fromtimestamp(bucket_start + step, UTC)),
        }
        point.update({n: int(row[n]) for n in WINDOW_CHANGES + WINDOW_TOTALS})
        points.append(point)
    return points


def _recipients_query(campaign_id: str, status: str | None) -> sa.Select[Any]:
    m = message_status
    stmt = sa.select(*(m.c[n] for n in RECIPIENT_COLUMNS)).where(m.c.campaign_id == campaign_id)
    wanted = m.c.status == status if status else m.c.status != ATTEMPTED
    stmt = stmt.where(wanted)
    return stmt.order_by(m.c.message_id)


def recipient_json(row: Any) -> dict[str, Any]:
    return {
        n: iso(v) if isinstance(v, datetime) else v
        for n, v in zip(RECIPIENT_COLUMNS, row, strict=True)
    }


async def recipients(
    engine: AsyncEngine, campaign_id: str, status: str | None, after: str | None, limit: int
) -> tuple[list[dict[str, Any]], str | None]:
    """One keyset page (by message id) and the cursor of the next one, if any."""
    stmt = _recipients_query(campaign_id, status)
    if after:
        stmt = stmt.where(message_status.c.message_id > after)
    async with engine.connect() as conn:
        rows = (await conn.execute(stmt.limit(limit + 1))).all()
    page = [recipient_json(row) for row in rows[:limit]]
    return page, (page[-1]["message_id"] if len(rows) > limit else None)


async def stream_recipients(
    engine: AsyncEngine, campaign_id: str, status: str | None, batch: int = 2000
) -> AsyncGenerator[Sequence[Any], None]:
    """Every recipient row of a campaign, ``batch`` rows at a time from a server-side cursor."""
    stmt = _recipients_query(campaign_id, status).execution_options(yield_per=batch)
    async with engine.connect() as conn:
        result = await conn.stream(stmt)
        try:
            async for rows in result.partitions(batch):
                yield rows
        finally:
            # also when the download ends early (a client cut or gone): returning the connection
            # rolls back, but leaves psycopg's server-side cursor object unclosed
            await result.close()


@dataclass(frozen=True, slots=True)
class TemplateSums:
    """One template's groups summed over the campaigns of a workspace."""

    template: str
    campaigns: int
    counters: Counters
    time_to_read: list[int]


def _template_sums_query() -> sa.TextClause:
    """The template groups of a workspace's stored insights (docs/insights.md), summed per
    template in PostgreSQL, so only one row per template leaves the database.

    A snapshot holds one group per kind and value, so a template's rows are its campaigns
    (``count(*)``: a distinct count would sort them all). Counters are written without their
    zeros (``Counters`` omits defaults), hence the coalesce. The buckets are summed one
    expression each (their number is fixed): unnesting every histogram instead took four times
    as long (2,500 campaigns of 5 templates each)."""

    def total(value: str) -> str:
        return f"sum(coalesce(({value})::bigint, 0))::bigint"

    counters = ", ".join(
        total("g -> 'counters' ->> '" + name + "'") + f' AS "{name}"'
        for name in Counters.__struct_fields__
    )
    buckets = ", ".join(total(f"g -> 'time_to_read' ->> {i}") for i in range(BUCKETS))
    return sa.text(
        "SELECT g ->> 'value' COLLATE \"C\" AS template,"
        " count(*) AS campaigns,"
        f" {counters}, ARRAY[{buckets}] AS time_to_read"
        " FROM campaign_stats AS s CROSS JOIN LATERAL jsonb_array_elements(CASE"
        "  WHEN jsonb_typeof(s.insights -> 'groups') = 'array' THEN s.insights -> 'groups'"
        "  ELSE '[]'::jsonb END) AS e(g)"
        " WHERE s.workspace_id = :workspace AND g ->> 'kind' = 'template'"
        ' GROUP BY 1 ORDER BY "dispatched" DESC, template LIMIT :limit'
    )


async def template_sums(
    engine: AsyncEngine, workspace_id: str, limit: int = MAX_TEMPLATES
) -> list[TemplateSums]:
    """Per template of the workspace's campaigns: in how many it was used, its counters and its
    time-to-read histogram summed; the most dispatched first (ties by name)."""
    params = {"workspace": workspace_id, "limit": limit}
    async with engine.connect() as conn:
        rows = (await conn.execute(_template_sums_query(), params)).mappings().all()
    return [
        TemplateSums(
            template=row["template"],
            campaigns=row["campaigns"],
            counters=Counters(**{n: row[n] for n in Counters.__struct_fields__}),
            time_to_read=row["time_to_read"],
        )
        for row in rows
    ]

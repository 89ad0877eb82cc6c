"""Writing a batch's events into the outbox, ``webhook_deliveries`` (docs/webhooks.md,
"The outbox").

One statement per batch: the events travel as one JSON array and PostgreSQL joins them to the
subscriptions that want them, so a batch of a workspace without webhooks costs one round trip
and adds nothing. ``ON CONFLICT DO NOTHING`` on (subscription, event id) makes a replayed batch
add nothing either.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import msgspec
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from .events import WebhookEvent

log = logging.getLogger("webhooks")

_json = msgspec.json.Encoder()

# A subscription gets the events of snapshots taken after it was created: a deliverer catching up
# (or a new consumer group reading from the start) does not send a new subscription the past.
# Rows are numbered in the batch's order, which is each campaign's seq order, so ``id`` is too.
INSERT_DELIVERIES = (
    "INSERT INTO webhook_deliveries AS d (subscription_id, event_id, event_type, payload) "
    "SELECT s.id, e.event_id, e.event_type, e.payload "
    "FROM json_to_recordset(%(events)s::json) AS e("
    "ord int, workspace_id text, event_id text, event_type text, created_at timestamptz, "
    "payload jsonb) "
    "JOIN webhook_subscriptions AS s ON s.workspace_id = e.workspace_id "
    "AND e.event_type = ANY(s.events) AND s.disabled_at IS NULL "
    "AND e.created_at >= s.created_at "
    "ORDER BY e.ord, s.id "
    "ON CONFLICT (subscription_id, event_id) DO NOTHING"
)


def events_param(events: Sequence[WebhookEvent]) -> dict[str, str]:
    """The statement's one parameter: the events, with what the join needs beside each body."""
    rows = [
        {
            "ord": n,
            "workspace_id": event.workspace_id,
            "event_id": event.id,
            "event_type": event.type,
            "created_at": event.created_at,
            "payload": event,
        }
        for n, event in enumerate(events)
    ]
    return {"events": _json.encode(rows).decode()}


async def write_events(engine: AsyncEngine, events: Sequence[WebhookEvent]) -> int:
    """The deliveries of ``events``, in one transaction of their own; how many are new.

    Should PostgreSQL refuse a value (a NUL character, which no ``jsonb`` holds), no retry could
    ever write the batch: its events are then written one by one and the refused ones are left
    out, with a warning. Any other error (a lost connection, a missing table) is raised, for the
    caller to retry.
    """
    if not events:
        return 0
    try:
        return await _write(engine, events)
    except (sa.exc.DataError, sa.exc.IntegrityError) as exc:
        log.warning("PostgreSQL refused a batch of events (%s); writing them one by one", exc)
    written = 0
    for event in events:
        try:
            written += await _write(engine, [event])
        except (sa.exc.DataError, sa.exc.IntegrityError) as exc:
            reason = str(exc).splitlines()[0]
            log.warning("event %r left out: PostgreSQL refused it (%s)", event.id, reason)
    return written


async def _write(engine: AsyncEngine, events: Sequence[WebhookEvent]) -> int:
    async with engine.begin() as conn:
        result = await conn.exec_driver_sql(INSERT_DELIVERIES, events_param(events))
        return max(0, result.rowcount)

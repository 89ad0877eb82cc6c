"""The deliverer's SQL on the outbox (docs/webhooks.md, "Delivery"): leasing subscriptions,
reading what is due, recording each try, giving up and pruning.

A subscription is served by one deliverer at a time (its lease, taken with ``SKIP LOCKED`` so
that deliverers never wait for each other), which posts its due deliveries one after the other in
``id`` order. A lease that is not renewed (a deliverer killed) runs out by itself.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

PENDING = "delivered_at IS NULL AND given_up_at IS NULL"
PRUNE_ROWS = 10_000


@dataclass(frozen=True, slots=True)
class Lease:
    """A subscription this deliverer serves until its lease runs out."""

    subscription_id: int
    url: str
    secret: str
    failures: int


@dataclass(frozen=True, slots=True)
class Due:
    """A delivery to try now: the body exactly as it is signed and sent."""

    delivery_id: int
    event_id: str
    event_type: str
    body: bytes
    attempts: int


# Subscriptions with something due, not paused, not leased: the least recently served first.
CLAIM = (
    "UPDATE webhook_subscriptions AS s "
    "SET leased_until = now() + make_interval(secs => %(lease)s) "
    "FROM (SELECT c.id FROM webhook_subscriptions AS c "
    "WHERE c.disabled_at IS NULL "
    "AND (c.paused_until IS NULL OR c.paused_until <= now()) "
    "AND (c.leased_until IS NULL OR c.leased_until <= now()) "
    "AND EXISTS (SELECT 1 FROM webhook_deliveries AS d WHERE d.subscription_id = c.id "
    "AND d.delivered_at IS NULL AND d.given_up_at IS NULL AND d.next_attempt_at <= now()) "
    "ORDER BY c.leased_until NULLS FIRST, c.id LIMIT %(slots)s "
    "FOR UPDATE SKIP LOCKED) AS free "
    "WHERE s.id = free.id RETURNING s.id, s.url, s.secret, s.failures"
)
DUE = (
    "SELECT id, event_id, event_type, payload::text AS payload, attempts FROM webhook_deliveries "
    f"WHERE subscription_id = %(subscription)s AND {PENDING} AND next_attempt_at <= now() "
    "ORDER BY id LIMIT %(limit)s"
)
DELIVERED = (
    "UPDATE webhook_deliveries SET delivered_at = now(), attempts = attempts + 1, "
    "last_status = %(status)s, last_error = '' WHERE id = %(delivery)s "
    "RETURNING extract(epoch FROM now() - created_at)::float8"
)
SERVED = (
    "UPDATE webhook_subscriptions SET failures = 0, paused_until = NULL, "
    "leased_until = now() + make_interval(secs => %(lease)s) WHERE id = %(subscription)s"
)
# The receiver answers again: what waited for it is due now, and goes out in id order. A
# delivery tried more often than the failures of this outage had been failing before it (the
# receiver refuses that one event) keeps its own schedule instead.
RECOVERED = (
    "UPDATE webhook_deliveries SET next_attempt_at = now() "
    f"WHERE subscription_id = %(subscription)s AND {PENDING} AND next_attempt_at > now() "
    "AND attempts <= %(streak)s"
)
FAILED = (
    "UPDATE webhook_deliveries SET attempts = attempts + 1, last_status = %(status)s, "
    "last_error = %(error)s, next_attempt_at = now() + make_interval(secs => %(wait)s) "
    "WHERE id = %(delivery)s"
)
PAUSED = (
    "UPDATE webhook_subscriptions SET failures = failures + 1, "
    "paused_until = now() + make_interval(secs => %(pause)s), leased_until = now() "
    "WHERE id = %(subscription)s"
)
RELEASE = "UPDATE webhook_subscriptions SET leased_until = now() WHERE id = ANY(%(subscriptions)s)"
GIVE_UP = (
    f"UPDATE webhook_deliveries SET given_up_at = now() WHERE {PENDING} "
    "AND created_at <= now() - make_interval(secs => %(max_age)s)"
)
PRUNE = (
    "DELETE FROM webhook_deliveries WHERE id IN (SELECT id FROM webhook_deliveries "
    f"WHERE created_at < now() - make_interval(secs => %(retention)s) AND NOT ({PENDING}) "
    f"LIMIT {PRUNE_ROWS})"
)
BACKLOG = (
    "SELECT count(*), coalesce(extract(epoch FROM now() - min(created_at))::float8, 0) "
    f"FROM webhook_deliveries WHERE {PENDING}"
)
PAUSED_COUNT = (
    "SELECT count(*) FROM webhook_subscriptions WHERE disabled_at IS NULL AND paused_until > now()"
)


async def claim(engine: AsyncEngine, slots: int, lease_seconds: float) -> list[Lease]:
    async with engine.begin() as conn:
        result = await conn.exec_driver_sql(CLAIM, {"slots": slots, "lease": lease_seconds})
        rows = result.mappings().all()
    return [Lease(r["id"], r["url"], r["secret"], r["failures"]) for r in rows]


async def due(engine: AsyncEngine, subscription_id: int, limit: int) -> list[Due]:
    async with engine.connect() as conn:
        params = {"subscription": subscription_id, "limit": limit}
        rows = (await conn.exec_driver_sql(DUE, params)).mappings().all()
    return [
        Due(r["id"], r["event_id"], r["event_type"], r["payload"].encode(), r["attempts"])
        for r in rows
    ]


async def delivered(
    engine: AsyncEngine, lease: Lease, due: Due, status: int | None, lease_seconds: float
) -> float:
    """Record a delivery (and, for a subscription that was failing, make what waited due);
    the lease is renewed. Returns the seconds since the event entered the outbox."""
    subscription = {"subscription": lease.subscription_id}
    async with engine.begin() as conn:
        params = {"delivery": due.delivery_id, "status": status}
        delay = (await conn.exec_driver_sql(DELIVERED, params)).scalar_one()
        await conn.exec_driver_sql(SERVED, {**subscription, "lease": lease_seconds})
        if lease.failures:
            await conn.exec_driver_sql(RECOVERED, {**subscription, "streak": lease.failures})
    return float(delay)


async def failed(
    engine: AsyncEngine,
    lease: Lease,
    due: Due,
    status: int | None,
    error: str,
    wait: float,
    pause: float,
) -> None:
    """Record a failed try: the delivery waits ``wait`` seconds, its subscription ``pause``, and
    the lease is given back."""
    async with engine.begin() as conn:
        params = {"delivery": due.delivery_id, "status": status, "error": error, "wait": wait}
        await conn.exec_driver_sql(FAILED, params)
        await conn.exec_driver_sql(PAUSED, {"subscription": lease.subscription_id, "pause": pause})


async def release(engine: AsyncEngine, *leases: Lease) -> None:
    if not leases:
        return
    ids = [lease.subscription_id for lease in leases]
    async with engine.begin() as conn:
        await conn.exec_driver_sql(RELEASE, {"subscriptions": ids})


async def give_up(engine: AsyncEngine, max_age_seconds: float) -> int:
    async with engine.begin() as conn:
        result = await conn.exec_driver_sql(GIVE_UP, {"max_age": max_age_seconds})
    return max(0, result.rowcount)


async def prune(engine: AsyncEngine, retention_seconds: float) -> int:
    """Delete finished deliveries older than the retention, a bounded number per transaction."""
    deleted = PRUNE_ROWS
    total = 0
    while deleted == PRUNE_ROWS:
        async with engine.begin() as conn:
            result = await conn.exec_driver_sql(PRUNE, {"retention": retention_seconds})
        deleted = max(0, result.rowcount)
        total += deleted
    return total


async def backlog(engine: AsyncEngine) -> tuple[int, float, int]:
    """Pending deliveries, the age of the oldest (seconds), and paused subscriptions."""
    async with engine.connect() as conn:
        pending, oldest = tuple((await conn.exec_driver_sql(BACKLOG)).one())
        paused = (await conn.exec_driver_sql(PAUSED_COUNT)).scalar_one()
    return int(pending), float(oldest), int(paused)

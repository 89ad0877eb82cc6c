"""The delivery loop (docs/webhooks.md, "Delivery"): up to ``WEBHOOKS_CONCURRENCY`` subscriptions
served at once, each by a lane of its own that posts its due deliveries one after the other.

A failed try pauses only its own subscription (exponential backoff with jitter, capped), so a
receiver that is down or slow holds one lane for at most one request timeout per try and never
slows the others. When a paused receiver answers again, whatever waited for it becomes due and
goes out in the order it was created.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time

import aiohttp
from sqlalchemy.ext.asyncio import AsyncEngine

from . import store
from .backoff import backoff_seconds
from .metrics import WebhookMetrics
from .sending import Outcome, post, request_headers
from .settings import WebhookSettings
from .store import Due, Lease

log = logging.getLogger("webhooks")

# deliveries one lane makes before its subscription goes back to the end of the queue
LANE_DELIVERIES = 100
# due deliveries read at a time: what a lane may still post after its subscription was removed
DUE_BATCH = 10
# a lease outlives one request by this much: each delivery renews it
LEASE_MARGIN_SECONDS = 10.0
# how often deliveries are given up, old ones pruned and the backlog measured (at most)
SWEEP_SECONDS = 60.0
RETRY_FIRST_SECONDS = 0.2
RETRY_MAX_SECONDS = 5.0


class Deliverer:
    """``wake`` is set when there may be something new to deliver (the outbox writer of this
    process wrote rows, or a lane ended); otherwise the outbox is polled."""

    def __init__(
        self,
        settings: WebhookSettings,
        engine: AsyncEngine,
        session: aiohttp.ClientSession,
        metrics: WebhookMetrics,
        wake: asyncio.Event,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.session = session
        self.metrics = metrics
        self.wake = wake
        self.lease_seconds = settings.webhooks_timeout_seconds + LEASE_MARGIN_SECONDS
        self.max_age_seconds = settings.webhooks_max_age_hours * 3600
        self.sweep_seconds = min(SWEEP_SECONDS, self.max_age_seconds / 10)
        self.lanes: set[asyncio.Task[None]] = set()
        self.leases: dict[int, Lease] = {}  # of the lanes running
        self.last_error = ""

    async def run(self) -> None:
        """Until cancelled; PostgreSQL being away is waited for."""
        next_sweep = 0.0
        wait = RETRY_FIRST_SECONDS
        log.info(
            "delivering to %d subscriptions at once; retries back off up to %g s, give-up at %g h",
            self.settings.webhooks_concurrency,
            self.settings.webhooks_backoff_max_seconds,
            self.settings.webhooks_max_age_hours,
        )
        try:
            while True:
                self.wake.clear()
                try:
                    if time.monotonic() >= next_sweep:
                        await self.sweep()
                        next_sweep = time.monotonic() + self.sweep_seconds
                    await self._open_lanes()
                except Exception as exc:
                    self._failed(exc)
                    await asyncio.sleep(wait)
                    wait = min(wait * 2, RETRY_MAX_SECONDS)
                    continue
                wait = RETRY_FIRST_SECONDS
                self.last_error = ""
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wake.wait(), self.settings.webhooks_poll_seconds)
        finally:
            await self._close_lanes()

    async def _close_lanes(self) -> None:
        """Stop every lane and give its lease back, so that a deliverer started next serves
        those subscriptions at once (a request cut short is made again: at least once)."""
        lanes, held = list(self.lanes), list(self.leases.values())
        for lane in lanes:
            lane.cancel()
        await asyncio.gather(*lanes, return_exceptions=True)
        with contextlib.suppress(Exception):
            await store.release(self.engine, *held)

    async def _open_lanes(self) -> None:
        free = self.settings.webhooks_concurrency - len(self.lanes)
        if free > 0:
            for lease in await store.claim(self.engine, free, self.lease_seconds):
                name = f"webhook-lane-{lease.subscription_id}"
                lane = asyncio.create_task(self._lane(lease), name=name)
                self.lanes.add(lane)
                self.leases[lease.subscription_id] = lease
                lane.add_done_callback(self.lanes.discard)
        self.metrics.lanes.set(len(self.lanes))

    async def sweep(self) -> None:
        """Give up what is too old, prune what is finished and old, measure the backlog."""
        given_up = await store.give_up(self.engine, self.max_age_seconds)
        if given_up:
            hours = self.settings.webhooks_max_age_hours
            log.warning("gave up %d deliveries older than %g h", given_up, hours)
            self.metrics.given_up.inc(given_up)
        await store.prune(self.engine, self.settings.webhooks_retention_hours * 3600)
        pending, oldest, paused = await store.backlog(self.engine)
        self.metrics.pending.set(pending)
        self.metrics.oldest_pending_seconds.set(oldest)
        self.metrics.paused.set(paused)

    async def _lane(self, lease: Lease) -> None:
        """Post the subscription's due deliveries in order until one fails (the subscription is
        then paused), none is left, or the lane has had its share."""
        sent = 0
        try:
            while sent < LANE_DELIVERIES:
                limit = min(DUE_BATCH, LANE_DELIVERIES - sent)
                rows = await store.due(self.engine, lease.subscription_id, limit)
                if not rows:
                    break
                for row in rows:
                    outcome = await self._try(lease, row)
                    if not outcome.delivered:
                        await self._failed_try(lease, row, outcome)
                        return
                    delay = await store.delivered(
                        self.engine, lease, row, outcome.status, self.lease_seconds
                    )
                    self.metrics.delay_seconds.observe(delay)
                    sent += 1
                    if lease.failures:
                        # the receiver is back: what it missed is due now, read it in order
                        lease = Lease(lease.subscription_id, lease.url, lease.secret, 0)
                        break
            await store.release(self.engine, lease)
        except Exception as exc:  # the lease runs out by itself; the loop goes on
            self.metrics.db_errors.inc()
            self._failed(exc)
        finally:
            self.leases.pop(lease.subscription_id, None)
            self.wake.set()

    async def _try(self, lease: Lease, row: Due) -> Outcome:
        headers = request_headers(lease.secret, row.event_type, row.event_id, row.body, time.time())
        started = time.perf_counter()
        outcome = await post(
            self.session, lease.url, headers, row.body, self.settings.webhooks_timeout_seconds
        )
        self.metrics.request_seconds.observe(time.perf_counter() - started)
        self.metrics.attempts.labels("delivered" if outcome.delivered else "failed").inc()
        return outcome

    async def _failed_try(self, lease: Lease, row: Due, outcome: Outcome) -> None:
        """The delivery waits by its own count of tries, the subscription by its count of
        failures in a row, each with a jitter of its own.

        When the pause ends, the delivery that failed is due again or not yet, by chance: so a
        receiver that refuses one event (always the same answer for it) is soon tried with
        another one, and the rest go through; a receiver that is down fails them all alike, and
        the first success makes everything that waited due again (``store.delivered``).
        """
        settings = self.settings
        first, cap = settings.webhooks_backoff_first_seconds, settings.webhooks_backoff_max_seconds
        wait = backoff_seconds(row.attempts + 1, first, cap, random.random())
        pause = backoff_seconds(lease.failures + 1, first, cap, random.random())
        log.info(
            "subscription %d, %s: %s; next try in %.1f s",
            lease.subscription_id,
            row.event_id,
            outcome.error,
            pause,
        )
        await store.failed(self.engine, lease, row, outcome.status, outcome.error, wait, pause)

    def _failed(self, exc: Exception) -> None:
        self.last_error = f"{type(exc).__name__}: {exc}".splitlines()[0]
        log.warning("delivery loop: %s; retrying", self.last_error)

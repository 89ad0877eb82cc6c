"""Snapshot math (docs/contract.md): totals, pending and rates from a campaign's counters. Pure."""

from __future__ import annotations

from datetime import datetime

from contract.events import Counters, Statistics
from contract.insights import rate


def counters_of(values: tuple[int, ...]) -> Counters:
    """Counters from a contribution tuple (dispatched, sent, delivered, read, played, failed,
    skipped)."""
    dispatched, sent, delivered, read, played, failed, skipped = values
    return Counters(
        dispatched=dispatched,
        sent=sent,
        delivered=delivered,
        read=read,
        played=played,
        failed=failed,
        skipped=skipped,
    )


def add_counters(a: Counters, b: Counters) -> Counters:
    return Counters(
        dispatched=a.dispatched + b.dispatched,
        sent=a.sent + b.sent,
        delivered=a.delivered + b.delivered,
        read=a.read + b.read,
        played=a.played + b.played,
        failed=a.failed + b.failed,
        skipped=a.skipped + b.skipped,
    )


def subtract_counters(a: Counters, b: Counters) -> Counters:
    return Counters(
        dispatched=a.dispatched - b.dispatched,
        sent=a.sent - b.sent,
        delivered=a.delivered - b.delivered,
        read=a.read - b.read,
        played=a.played - b.played,
        failed=a.failed - b.failed,
        skipped=a.skipped - b.skipped,
    )


def sum_counters(parts: list[Counters]) -> Counters:
    total = Counters()
    for part in parts:
        total = add_counters(total, part)
    return total


def statistics(
    counters: Counters,
    registered_total: int,
    updated_at: datetime,
    *,
    started_at: datetime | None = None,
    completed_at: datetime | None = None,
) -> Statistics:
    """The ``statistics`` object of a snapshot.

    ``total`` is the registered audience, or the number of recipients dispatched or skipped when
    that is larger (a campaign may be registered late, or not at all). The funnel splits it:
    ``total = queued + awaiting_update + sent + failed + skipped``; ``pending`` is what is not
    settled yet (queued + awaiting update).
    """
    total = max(registered_total, counters.dispatched + counters.skipped)
    queued = total - counters.dispatched - counters.skipped
    awaiting = counters.dispatched - counters.sent - counters.failed
    return Statistics(
        total_message_count=total,
        total_sent_count=counters.sent,
        total_delivered_count=counters.delivered,
        total_read_count=counters.read,
        total_played_count=counters.played,
        total_failed_count=counters.failed,
        pending_count=queued + awaiting,
        delivery_rate=rate(counters.delivered, counters.sent),
        read_rate=rate(counters.read, counters.delivered),
        success_rate=rate(counters.sent, total),
        updated_at=updated_at,
        dispatched_count=counters.dispatched,
        skipped_count=counters.skipped,
        queued_count=queued,
        awaiting_update_count=awaiting,
        started_at=started_at,
        completed_at=completed_at,
    )


def is_complete(stats: Statistics) -> bool:
    """Nothing queued, nothing awaiting an update: every audience member is settled."""
    return stats.total_message_count > 0 and stats.pending_count == 0

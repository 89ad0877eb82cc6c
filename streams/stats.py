"""Snapshot math of spec §2: totals, pending and rates from a campaign's counters. Pure."""

from __future__ import annotations

from datetime import datetime

from streams.events import Counters, Statistics


def rate(numerator: int, divisor: int) -> float:
    """A percentage with two decimals; 0 when there is nothing to divide by."""
    return round(numerator * 100 / divisor, 2) if divisor else 0.0


def add_counters(a: Counters, b: Counters) -> Counters:
    return Counters(
        dispatched=a.dispatched + b.dispatched,
        sent=a.sent + b.sent,
        delivered=a.delivered + b.delivered,
        read=a.read + b.read,
        played=a.played + b.played,
        failed=a.failed + b.failed,
    )


def subtract_counters(a: Counters, b: Counters) -> Counters:
    return Counters(
        dispatched=a.dispatched - b.dispatched,
        sent=a.sent - b.sent,
        delivered=a.delivered - b.delivered,
        read=a.read - b.read,
        played=a.played - b.played,
        failed=a.failed - b.failed,
    )


def sum_counters(parts: list[Counters]) -> Counters:
    total = Counters()
    for part in parts:
        total = add_counters(total, part)
    return total


def statistics(counters: Counters, registered_total: int, updated_at: datetime) -> Statistics:
    """The ``statistics`` object of a snapshot.

    ``total`` is the registered recipient count, or the number of dispatched messages when that is
    larger (a campaign may be registered late, or not at all).
    """
    total = max(registered_total, counters.dispatched)
    return Statistics(
        total_message_count=total,
        total_sent_count=counters.sent,
        total_delivered_count=counters.delivered,
        total_read_count=counters.read,
        total_played_count=counters.played,
        total_failed_count=counters.failed,
        pending_count=max(0, total - counters.sent - counters.failed),
        delivery_rate=rate(counters.delivered, counters.sent),
        read_rate=rate(counters.read, counters.delivered),
        success_rate=rate(counters.sent, total),
        updated_at=updated_at,
        dispatched_count=counters.dispatched,
    )

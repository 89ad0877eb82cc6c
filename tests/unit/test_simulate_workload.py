"""The synthetic traffic the worker's tests and benchmarks write straight to Kafka
(tickstream/simulator/workload.py) holds what the insights are about: labels (some
disagreeing between two dispatches of a message), A/B variants read at different rates, the
providers' failure codes and texts, acks from under a second to a day after their dispatch, with
the provider's time or only the arrival's."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta

from contract.events import AckEvent, Dispatch
from tickstream.simulator.labels import TAGS, TEMPLATES
from tickstream.simulator.oracle import insights_oracle, oracle
from tickstream.simulator.webhooks import FAILURES
from tickstream.simulator.workload import QUICK_DELAY, campaign_events


def test_campaign_events_hold_every_case_of_the_insights() -> None:
    events = campaign_events(2, 4000, seed=5, skip_share=0.03, late_acks=True)
    dispatches: dict[str, list[Dispatch]] = defaultdict(list)
    for event in events:
        if isinstance(event, Dispatch):
            dispatches[event.message_id].append(event)
    assert {d.template for found in dispatches.values() for d in found} == {*TEMPLATES[:2], ""}
    assert {t for found in dispatches.values() for d in found for t in d.tags} == set(TAGS)
    labels = {
        message: {(d.variant, tuple(d.tags)) for d in found}
        for message, found in dispatches.items()
    }
    assert any(len(found) > 1 for found in labels.values())  # dispatches that disagree
    assert any(found == {("", ())} for found in labels.values())  # no labels at all
    acks = [e for e in events if isinstance(e, AckEvent)]
    assert any(a.occurred_at is None for a in acks) and any(a.occurred_at for a in acks)
    failures = {(a.error_code, a.error_title) for a in acks if a.status == "failed"}
    assert failures == {f for provider in FAILURES.values() for f in provider}
    counts = oracle(events)
    for campaign, insights in insights_oracle(events).items():
        read = {
            g.value: g.counters.read / g.counters.dispatched
            for g in insights.groups
            if g.kind == "variant"
        }
        assert read["A"] > read["B"] + 0.1, read
        assert insights.time_to_read[0] == 0 and insights.time_to_read[-1] > 0  # up to a day
        assert insights.time_to_delivered[-4] > 0  # phones offline for hours
        assert sum(insights.time_to_read) == counts[campaign].read


def test_without_late_acks_every_ack_comes_within_minutes() -> None:
    """The worker's retention tests wait for every message's last event to expire."""
    start = datetime(2026, 11, 1, 12, tzinfo=UTC)
    events = campaign_events(2, 2000, seed=5, start=start)
    last = max(e.received_at for e in events if isinstance(e, AckEvent))
    assert timedelta(seconds=30) < last - start <= timedelta(seconds=20 + 4 * QUICK_DELAY + 10)

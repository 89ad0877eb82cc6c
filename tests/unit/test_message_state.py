"""The status semantics of docs/contract.md: the per-message state is a join-semilattice, and
campaign counts equal an oracle that recomputes them from scratch."""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import astuple
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from contract.events import AckEvent, Attempt, Dispatch, MessageEvent, Skip, skip_message_id
from contract.status import effective_status
from streams.message_state import contribution, fold, join, status_record
from streams.stats import counters_of, statistics
from tickstream.simulator.oracle import Expected, oracle

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def ack(message_id: str, status: str, second: int = 0, **extra: str) -> AckEvent:
    at = T0 + timedelta(seconds=second)
    return AckEvent(message_id=message_id, status=status, received_at=at, occurred_at=at, **extra)  # type: ignore[arg-type]


def dispatch(message_id: str, campaign: str = "c1", second: int = 0) -> Dispatch:
    at = T0 + timedelta(seconds=second)
    return Dispatch(
        message_id=message_id,
        campaign_id=campaign,
        workspace_id="w1",
        recipient="+551100",
        dispatched_at=at,
        received_at=at,
    )


statuses = st.sampled_from(["pending", "sent", "delivered", "read", "played", "failed"])
acks = st.builds(
    ack,
    message_id=st.just("m1"),
    status=statuses,
    second=st.integers(0, 50),
    participant=st.sampled_from(["", "p1", "p2"]),
    error_code=st.sampled_from(["", "131026", "131049"]),
    recipient=st.sampled_from(["", "+1", "+2"]),
)
message_events = st.lists(
    st.one_of(acks, st.builds(dispatch, message_id=st.just("m1"), second=st.integers(0, 50))),
    min_size=1,
    max_size=12,
)


@settings(max_examples=300)
@given(message_events, st.randoms(use_true_random=False), st.integers(0, 3))
def test_any_order_and_duplicates_give_the_same_state(
    events: list[MessageEvent], rng: random.Random, copies: int
) -> None:
    shuffled = events + events[: copies * 2]
    rng.shuffle(shuffled)
    assert fold(shuffled) == fold(events)


@settings(max_examples=200)
@given(message_events)
def test_joining_is_idempotent(events: list[MessageEvent]) -> None:
    state = fold(events)
    for event in events:
        assert join(state, event) == state


campaign_events = st.lists(
    st.one_of(
        st.builds(
            ack,
            message_id=st.sampled_from(["a", "b", "c", "d"]),
            status=statuses,
            second=st.integers(0, 9),
        ),
        st.builds(
            dispatch,
            message_id=st.sampled_from(["a", "b", "c", "d"]),
            campaign=st.sampled_from(["c1", "c2"]),
        ),
    ),
    max_size=40,
)


def counts_from_states(events: list[MessageEvent]) -> dict[str, Expected]:
    per_message: dict[str, list[MessageEvent]] = defaultdict(list)
    for event in events:
        per_message[event.message_id].append(event)
    tallies: dict[str, list[int]] = defaultdict(lambda: [0] * 7)
    for message_events_ in per_message.values():
        state = fold(message_events_)
        if state.campaign_id:
            row = tallies[state.campaign_id]
            for i, value in enumerate(contribution(state)):
                row[i] += value
    return {campaign: Expected(*row) for campaign, row in tallies.items()}


@settings(max_examples=300)
@given(campaign_events)
def test_campaign_counts_equal_the_oracle(events: list[MessageEvent]) -> None:
    assert counts_from_states(events) == oracle(events)


# ------------------------------------------ the consequences docs/contract.md names


def status_of(events: list[MessageEvent]) -> str:
    state = fold(events)
    return effective_status(state.max_rank, state.failed)


def test_read_without_delivered_counts_as_delivered() -> None:
    counts = counts_from_states([dispatch("m"), ack("m", "read")])
    assert counts["c1"].delivered == 1 and counts["c1"].sent == 1 and counts["c1"].read == 1
    assert fold([dispatch("m"), ack("m", "read", 5)]).delivered_at == T0 + timedelta(seconds=5)


def test_delivered_after_failed_moves_the_message_out_of_failed() -> None:
    events: list[MessageEvent] = [
        dispatch("m"),
        ack("m", "sent", 1),
        ack("m", "failed", 2),
        ack("m", "delivered", 3),
    ]
    assert status_of(events) == "delivered"
    assert counts_from_states(events)["c1"].failed == 0


def test_failed_alone_counts_as_failed_not_sent() -> None:
    counts = counts_from_states([dispatch("m"), ack("m", "sent"), ack("m", "failed")])
    assert (counts["c1"].sent, counts["c1"].failed) == (0, 1)


def test_late_sent_never_lowers_anything() -> None:
    before = fold([dispatch("m"), ack("m", "read", 4)])
    after = join(before, ack("m", "sent", 9))
    assert after.max_rank == before.max_rank
    assert after.sent_at == before.sent_at  # the earlier (implied) time stays


def test_ack_before_dispatch_counts_when_the_dispatch_arrives() -> None:
    early = fold([ack("m", "delivered")])
    assert contribution(early) == (0, 0, 0, 0, 0, 0, 0)
    joined = join(early, dispatch("m"))
    assert contribution(joined) == (1, 1, 1, 0, 0, 0, 0)


def test_group_message_rank_is_the_highest_participant() -> None:
    state = fold(
        [
            dispatch("m"),
            ack("m", "delivered", participant="p1"),
            ack("m", "read", participant="p2"),
        ]
    )
    assert state.max_rank == 3
    assert state.participants == {"p1": 2, "p2": 3}


def test_duplicates_change_nothing() -> None:
    once: list[MessageEvent] = [dispatch("m"), ack("m", "sent"), ack("m", "delivered")]
    assert fold(once * 5) == fold(once)


def test_second_campaign_cannot_steal_a_message() -> None:
    state = fold([dispatch("m", "c1"), dispatch("m", "c2")])
    assert state.campaign_id == "c1"


# ------------------------------------------------------------- skips and the funnel


def skip(recipient: str, campaign: str = "c1", code: str = "no_account") -> Skip:
    return Skip(
        message_id=skip_message_id(campaign, recipient),
        campaign_id=campaign,
        workspace_id="w1",
        recipient=recipient,
        reason_code=code,
        received_at=T0,
    )


def dispatch_to(message_id: str, recipient: str, campaign: str = "c1") -> Dispatch:
    return Dispatch(
        message_id=message_id,
        campaign_id=campaign,
        workspace_id="w1",
        recipient=recipient,
        received_at=T0,
    )


def with_attempts(events: list[MessageEvent]) -> list[MessageEvent]:
    """What the worker adds: every dispatch tells its recipient's skip it was attempted."""
    return events + [
        Attempt(message_id=skip_message_id(e.campaign_id, e.recipient), received_at=T0)
        for e in events
        if isinstance(e, Dispatch) and e.recipient
    ]


def test_a_skip_counts_once_however_often_reported() -> None:
    counts = counts_from_states([skip("+1"), skip("+1", code="opt_out"), skip("+2")])
    assert counts["c1"].skipped == 2 and counts["c1"].dispatched == 0


def test_a_dispatch_after_a_skip_cancels_it_in_any_order() -> None:
    events = with_attempts([skip("+1"), dispatch_to("m1", "+1"), ack("m1", "delivered")])
    for order in (events, events[::-1]):
        counts = counts_from_states(order)
        assert (counts["c1"].skipped, counts["c1"].dispatched, counts["c1"].delivered) == (0, 1, 1)
    assert status_record("s", fold([skip("+1")]), T0).status == "skipped"
    attempted = fold([skip("+1"), *with_attempts([dispatch_to("m1", "+1")])[1:]])
    assert status_record("s", attempted, T0).status == "attempted"


funnel_events = st.lists(
    st.one_of(
        st.builds(
            dispatch_to,
            message_id=st.sampled_from(["a", "b", "c", "d", "e"]),
            recipient=st.sampled_from(["+1", "+2", "+3", "+4"]),
            campaign=st.sampled_from(["c1", "c2"]),
        ),
        st.builds(
            skip,
            recipient=st.sampled_from(["+1", "+2", "+3", "+4", "+5"]),
            campaign=st.sampled_from(["c1", "c2"]),
            code=st.sampled_from(["no_account", "opt_out", "invalid_number"]),
        ),
        st.builds(
            ack,
            message_id=st.sampled_from(["a", "b", "c", "d", "e"]),
            status=statuses,
            second=st.integers(0, 9),
        ),
    ),
    max_size=40,
)


@settings(max_examples=300)
@given(funnel_events, st.integers(0, 12), st.randoms(use_true_random=False))
def test_the_funnel_adds_up_to_the_audience(
    events: list[MessageEvent], registered: int, rng: random.Random
) -> None:
    """total = queued + awaiting update + sent + failed + skipped, for any mix and order."""
    shuffled = with_attempts(events)
    rng.shuffle(shuffled)
    counts = counts_from_states(shuffled)
    assert counts == oracle(shuffled)  # (conflicting dispatches: first in log order wins)
    for expected in counts.values():
        stats = statistics(counters_of(astuple(expected)), registered, T0)
        parts = (
            stats.queued_count,
            stats.awaiting_update_count,
            stats.total_sent_count,
            stats.total_failed_count,
            stats.skipped_count,
        )
        assert min(parts) >= 0
        assert sum(parts) == stats.total_message_count
        assert stats.pending_count == stats.queued_count + stats.awaiting_update_count

"""Erasure in the worker's message state (docs/operations.md, "Erasure"): the join stays a
join-semilattice with ``Erase`` among the events, an erased state never shows a number again
whatever is joined after, and what a message counts does not change."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from contract.events import AckEvent, Attempt, Dispatch, Erase, MessageEvent, Skip
from streams.insights import facets
from streams.message_state import (
    EMPTY,
    MessageState,
    contribution,
    fold,
    join,
    retired_on_erasure,
    status_record,
)

T0 = datetime(2026, 11, 1, tzinfo=UTC)
NUMBERS = ["+4915100", "+4915101"]
seconds = st.integers(0, 50).map(lambda s: T0 + timedelta(seconds=s))

acks = st.builds(
    AckEvent,
    message_id=st.just("m1"),
    status=st.sampled_from(["pending", "sent", "delivered", "read", "played", "failed"]),
    received_at=seconds,
    occurred_at=st.none() | seconds,
    participant=st.sampled_from(["", *NUMBERS]),
    recipient=st.sampled_from(["", *NUMBERS]),
    error_code=st.sampled_from(["", "131026"]),
)
dispatches = st.builds(
    Dispatch,
    message_id=st.just("m1"),
    campaign_id=st.just("c1"),
    workspace_id=st.just("w1"),
    recipient=st.just(NUMBERS[0]),
    received_at=seconds,
    variant=st.sampled_from(["", "A"]),
    tags=st.lists(st.sampled_from(["vip", "new"]), max_size=2),
)
erases = st.builds(Erase, message_id=st.just("m1"), workspace_id=st.just("w1"), received_at=seconds)
message_events = st.lists(st.one_of(acks, dispatches, erases), min_size=1, max_size=12)

skip_id = f"skip:c1:{NUMBERS[0]}"
skip_events = st.lists(
    st.one_of(
        st.builds(
            Skip,
            message_id=st.just(skip_id),
            campaign_id=st.just("c1"),
            workspace_id=st.just("w1"),
            recipient=st.just(NUMBERS[0]),
            received_at=seconds,
            reason_code=st.sampled_from(["", "opted_out"]),
        ),
        st.builds(Attempt, message_id=st.just(skip_id), received_at=seconds),
        st.builds(
            Erase, message_id=st.just(skip_id), workspace_id=st.just("w1"), received_at=seconds
        ),
    ),
    min_size=1,
    max_size=8,
)
any_events = message_events | skip_events


def shows_no_number(state: MessageState) -> bool:
    return not (state.recipient or state.ack_recipient or state.participants)


@settings(max_examples=300)
@given(any_events, st.randoms(use_true_random=False), st.integers(0, 3))
def test_any_order_and_duplicates_give_the_same_state(
    events: list[MessageEvent], rng: random.Random, copies: int
) -> None:
    shuffled = events + events[: copies * 2]
    rng.shuffle(shuffled)
    assert fold(shuffled) == fold(events)


@settings(max_examples=300)
@given(any_events, any_events)
def test_joining_in_parts_equals_joining_at_once(
    first: list[MessageEvent], second: list[MessageEvent]
) -> None:
    """Associative: a state joined with more events is the state of all of them, in any order."""
    assert fold(second, fold(first)) == fold(first + second) == fold(second + first)


@settings(max_examples=200)
@given(any_events)
def test_joining_is_idempotent(events: list[MessageEvent]) -> None:
    state = fold(events)
    for event in events:
        assert join(state, event) == state


@settings(max_examples=300)
@given(message_events, erases, message_events)
def test_an_erased_state_never_shows_the_number_whatever_follows(
    before: list[MessageEvent], erase: Erase, after: list[MessageEvent]
) -> None:
    """Late acks, replayed dispatches and group participants after the erasure included."""
    state = fold([*before, erase])
    assert state.erased and shows_no_number(state)
    for event in after:
        state = join(state, event)
        assert state.erased and shows_no_number(state)
        if state.campaign_id:
            assert status_record("m1", state, T0).recipient == ""
            assert status_record("m1", state, T0).erased


@settings(max_examples=300)
@given(any_events, st.integers(0, 50))
def test_erasure_changes_no_count(events: list[MessageEvent], second: int) -> None:
    """The contribution and the breakdowns (docs/insights.md) of the message stay as they were."""
    erase = Erase(
        message_id=events[0].message_id,
        workspace_id="w1",
        received_at=T0 + timedelta(seconds=second),
    )
    kept, erased = fold(events), fold([*events, erase])
    assert contribution(erased) == contribution(kept)
    assert facets(erased, contribution(erased)) == facets(kept, contribution(kept))


def test_an_erased_message_without_erasure_shows_its_number() -> None:
    """The counter-case, so the properties above can fail: numbers are kept unless erased."""
    dispatch = Dispatch(
        message_id="m1", campaign_id="c1", workspace_id="w1", recipient=NUMBERS[0], received_at=T0
    )
    group_ack = AckEvent(message_id="m1", status="read", received_at=T0, participant=NUMBERS[1])
    state = fold([dispatch, group_ack])
    assert (state.recipient, state.participants) == (NUMBERS[0], {NUMBERS[1]: 3})
    erased = join(state, Erase(message_id="m1", workspace_id="w1", received_at=T0))
    assert (erased.recipient, erased.participants, erased.max_rank) == ("", {}, 3)


def test_stage_one_drops_erased_skips_and_states_of_no_campaign_only() -> None:
    erase = Erase(message_id="x", workspace_id="w1", received_at=T0)
    skip = Skip(
        message_id=skip_id,
        campaign_id="c1",
        workspace_id="w1",
        recipient=NUMBERS[0],
        received_at=T0,
    )
    dispatch = Dispatch(message_id="m1", campaign_id="c1", workspace_id="w1", received_at=T0)
    attempt = Attempt(message_id=skip_id, received_at=T0)
    assert retired_on_erasure(fold([skip, erase]))
    assert retired_on_erasure(fold([attempt, erase]))  # an attempt with no skip yet
    assert retired_on_erasure(join(EMPTY, erase))  # an erase of a key never seen
    assert not retired_on_erasure(fold([dispatch, erase]))  # kept: it guards the message
    assert not retired_on_erasure(fold([skip]))

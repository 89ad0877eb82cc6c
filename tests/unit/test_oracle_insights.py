"""The oracle's insights (tickstream/simulator/oracle.py) follow docs/insights.md to the letter:
worked examples of every rule, the same insights whatever the order and repeats of the events,
histograms and skip reasons that count exactly their counters' messages, and the worker's pure
functions agreeing with it on arbitrary events."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from contract.events import (
    AckEvent,
    Attempt,
    Counters,
    Dispatch,
    Failure,
    GroupStatistics,
    Insights,
    MessageEvent,
    Skip,
    SkipReason,
    skip_message_id,
)
from contract.insights import BUCKETS, KNOWN_FAILURE_TITLES, UNCODED_TITLE_CHARS, bucket_of
from streams.insights import add, facets, insights_of, join_titles
from streams.message_state import FAILED_INDEX, contribution, fold
from tickstream.simulator.comparison import ExpectedInsights, insight_differences
from tickstream.simulator.oracle import insights_oracle, oracle

T0 = datetime(2026, 11, 1, 12, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def dispatch(
    message_id: str,
    second: float | None = 0,
    *,
    campaign: str = "c1",
    received: float = 0,
    template: str = "",
    variant: str = "",
    tags: tuple[str, ...] = (),
) -> Dispatch:
    return Dispatch(
        message_id=message_id,
        campaign_id=campaign,
        workspace_id="w1",
        recipient=f"+{message_id}",
        dispatched_at=None if second is None else at(second),
        received_at=at(received),
        template=template,
        variant=variant,
        tags=list(tags),
    )


def ack(
    message_id: str,
    status: str,
    second: float,
    *,
    received: float | None = None,
    stamped: bool = True,
    code: str = "",
    title: str = "",
) -> AckEvent:
    """An ack that happened at ``second``: stamped by its provider, or only received then."""
    return AckEvent(
        message_id=message_id,
        status=status,  # type: ignore[arg-type]
        received_at=at(second if received is None else received),
        occurred_at=at(second) if stamped else None,
        error_code=code,
        error_title=title,
    )


def skip(recipient: str, code: str = "", reason: str = "", *, campaign: str = "c1") -> Skip:
    return Skip(
        message_id=skip_message_id(campaign, recipient),
        campaign_id=campaign,
        workspace_id="w1",
        recipient=recipient,
        received_at=T0,
        reason_code=code,
        reason=reason,
    )


def histogram(*seconds: float) -> list[int]:
    counts = [0] * BUCKETS
    for value in seconds:
        counts[bucket_of(value)] += 1
    return counts


def group(
    kind: str, value: str, read_seconds: tuple[float, ...] = (), **counters: int
) -> GroupStatistics:
    return GroupStatistics(
        kind=kind,
        value=value,
        counters=Counters(**counters),
        time_to_read=histogram(*read_seconds),
    )


def test_times_are_first_seen_per_rank_from_the_dispatch() -> None:
    events: list[MessageEvent] = [
        dispatch("m1", 0, variant="A", template="promo", tags=("vip", "rio")),
        ack("m1", "sent", 3),
        ack("m1", "sent", 1.5, received=90),  # a late report of an earlier time
        ack("m1", "read", 45),  # no delivered report: read proves delivery
        ack("m1", "delivered", 50),
        ack("m1", "played", 400),
        # the ack's own time counts, else when ingest received it
        dispatch("m2", None, received=10),
        ack("m2", "delivered", 10 + 7200, stamped=False),
        ack("m2", "sent", 5),  # stamped before its dispatch: clocks apart, the first bucket
        dispatch("m3", 100),
        dispatch("m3", 40),  # the earliest dispatch time of the message counts
        ack("m3", "sent", 100),
        ack("m4", "read", 3),  # no dispatch: no campaign, counted nowhere
    ]
    read = (45,)
    assert insights_oracle(events) == {
        "c1": Insights(
            time_to_sent=histogram(1.5, -5, 60),
            time_to_delivered=histogram(45, 7200),
            time_to_read=histogram(*read),
            groups=[
                group("tag", "rio", read, dispatched=1, sent=1, delivered=1, read=1, played=1),
                group("tag", "vip", read, dispatched=1, sent=1, delivered=1, read=1, played=1),
                group(
                    "template", "promo", read, dispatched=1, sent=1, delivered=1, read=1, played=1
                ),
                group("variant", "A", read, dispatched=1, sent=1, delivered=1, read=1, played=1),
            ],
        )
    }


def test_a_message_counts_in_a_stage_only_with_its_counter() -> None:
    events: list[MessageEvent] = [
        dispatch("f1", 0, variant="B"),
        ack("f1", "sent", 1),
        ack("f1", "failed", 2, code="131026"),  # failed: counted in no stage, sent neither
        dispatch("d1", 0, variant="B"),
        ack("d1", "failed", 2, code="131049"),
        ack("d1", "delivered", 30),  # delivery beats the failure: sent and delivered, not failed
        dispatch("p1", 0, variant="B"),
        ack("p1", "pending", 1),  # pending sets no time
    ]
    expected = insights_oracle(events)["c1"]
    assert expected.time_to_sent == histogram(30)
    assert expected.time_to_delivered == histogram(30)
    assert expected.time_to_read == [0] * BUCKETS
    assert expected.failures == [
        Failure(code="131026", title=KNOWN_FAILURE_TITLES["131026"], count=1)
    ]
    assert expected.groups == [
        group("variant", "B", dispatched=3, sent=1, delivered=1, failed=1),
    ]


def test_failure_reasons() -> None:
    events: list[MessageEvent] = [
        # the earliest failure's code counts; the later one's is forgotten
        dispatch("a", 0),
        ack("a", "failed", 9, code="131026", title="Message undeliverable"),
        ack("a", "failed", 5, code="131049"),
        # equal times: the larger (code, title)
        dispatch("b", 0),
        ack("b", "failed", 5, code="63003"),
        ack("b", "failed", 5, code="63016"),
        # the provider's title wins over the known one: the largest seen for the code
        dispatch("c", 0),
        ack("c", "failed", 5, code="131049", title="Healthy ecosystem"),
        dispatch("d", 0),
        ack("d", "failed", 5, code="131049", title="Ecosystem engagement"),
        # no code: counted under its text, each text apart
        dispatch("e", 0),
        ack("e", "failed", 5, title="Evaluation failed: Error: wid error: invalid wid"),
        dispatch("f", 0),
        ack("f", "failed", 5, title="Session closed."),
        dispatch("g", 0),
        ack("g", "failed", 6),  # no code, no text
        dispatch("h", 0),
        ack("h", "failed", 6, code="999999"),  # a code with no known title
    ]
    assert insights_oracle(events)["c1"].failures == [
        Failure(code="", title="", count=1),
        Failure(code="", title="Evaluation failed: Error: wid error: invalid wid", count=1),
        Failure(code="", title="Session closed.", count=1),
        Failure(code="131049", title="Healthy ecosystem", count=3),
        Failure(code="63016", title=KNOWN_FAILURE_TITLES["63016"], count=1),
        Failure(code="999999", title="", count=1),
    ]


def test_labels_of_disagreeing_dispatches() -> None:
    events: list[MessageEvent] = [
        dispatch("m1", 0, variant="A", template="", tags=("f", "e", "d")),
        dispatch("m1", 0, variant="B", template="t1", tags=("c", "b", "a", "g", "e")),
        ack("m1", "sent", 1),
        dispatch("m2", 0),  # no labels: in no group
        ack("m2", "read", 1),
    ]
    groups = insights_oracle(events)["c1"].groups
    assert [(g.kind, g.value) for g in groups] == [
        ("tag", "a"),
        ("tag", "b"),
        ("tag", "c"),
        ("tag", "d"),
        ("tag", "e"),
        ("template", "t1"),
        ("variant", "B"),
    ]
    assert {g.counters for g in groups} == {Counters(dispatched=1, sent=1)}


def test_campaigns_apart_and_skips_only_in_their_reasons() -> None:
    events: list[MessageEvent] = [
        dispatch("m1", 0, campaign="c1", variant="A"),
        ack("m1", "delivered", 2),
        dispatch("m2", 0, campaign="c2", variant="A"),
        ack("m2", "read", 20),
        skip("+1", "opted_out", campaign="c3"),  # a campaign of skips only
    ]
    found = insights_oracle(events)
    assert set(found) == {"c1", "c2", "c3"}
    assert found["c1"].groups == [group("variant", "A", dispatched=1, sent=1, delivered=1)]
    assert found["c2"].groups == [
        group("variant", "A", (20,), dispatched=1, sent=1, delivered=1, read=1)
    ]
    assert found["c3"] == Insights(
        time_to_sent=[0] * BUCKETS,
        time_to_delivered=[0] * BUCKETS,
        time_to_read=[0] * BUCKETS,
        skip_reasons=[SkipReason(code="opted_out", reason="", count=1)],
    )


def test_skip_reasons() -> None:
    long = "Number not on WhatsApp: " + "x" * UNCODED_TITLE_CHARS
    events: list[MessageEvent] = [
        skip("+1", "opted_out", "asked to stop"),
        skip("+2", "opted_out", "asked to stop"),
        skip("+2", "opted_out", "asked to stop"),  # reported twice, counted once
        # several reports of one recipient: the largest (code, reason) pair
        skip("+3", "invalid", "zzz"),
        skip("+3", "opted_out", "Asked to stop"),
        # the reason cut to its first 80 characters: two long ones fall together
        skip("+4", "", long + " (+4)"),
        skip("+5", "", long + " (+5)"),
        skip("+6", "invalid", "not on WhatsApp"),
        skip("+m6", "invalid", "not on WhatsApp"),
        dispatch("m6"),  # dispatched to after all: no longer skipped
        dispatch("m7", campaign="c2"),  # dispatched to in another campaign: still skipped in c1
        skip("+m7", "invalid", "not on WhatsApp"),
    ]
    expected = insights_oracle(events)["c1"]
    assert expected.skip_reasons == [
        SkipReason(code="", reason=long[:UNCODED_TITLE_CHARS], count=2),
        SkipReason(code="invalid", reason="not on WhatsApp", count=2),
        SkipReason(code="opted_out", reason="Asked to stop", count=1),
        SkipReason(code="opted_out", reason="asked to stop", count=2),
    ]
    assert oracle(events)["c1"].skipped == 7


MESSAGES = ("a", "b", "c", "d", "e")
# a message's campaign follows from its id: one campaign per message, so that the order of the
# events cannot matter (a second campaign's claim is a sender's bug, decided by log order)
CAMPAIGN_OF = {"a": "c1", "b": "c1", "c": "c1", "d": "c2", "e": "c2"}
seconds = st.one_of(st.integers(-30, 120), st.integers(120, 200_000)).map(float)
labelled_dispatches = st.builds(
    lambda m, second, received, variant, template, tags: dispatch(
        m,
        second,
        campaign=CAMPAIGN_OF[m],
        received=received,
        variant=variant,
        template=template,
        tags=tuple(tags),
    ),
    st.sampled_from(MESSAGES),
    st.one_of(st.none(), seconds),
    seconds,
    st.sampled_from(["", "A", "B"]),
    st.sampled_from(["", "t1", "t2"]),
    st.lists(st.sampled_from("uvwxyz"), max_size=5, unique=True),
)
acks = st.builds(
    ack,
    st.sampled_from(MESSAGES),
    st.sampled_from(["pending", "sent", "delivered", "read", "played", "failed"]),
    seconds,
    received=st.one_of(st.none(), seconds),
    stamped=st.booleans(),
    code=st.sampled_from(["", "131026", "63016"]),
    title=st.sampled_from(["", "Message undeliverable", "Session closed."]),
)
# recipients "+a" … "+e" are the messages' (see ``dispatch``), so some skips are cancelled
skips = st.builds(
    skip,
    st.sampled_from(["+a", "+b", "+d", "+y", "+z"]),
    st.sampled_from(["", "opted_out", "invalid"]),
    st.sampled_from(["", "asked to stop", "x" * UNCODED_TITLE_CHARS + "1", "x" * 90]),
    campaign=st.sampled_from(["c1", "c2", "c3"]),
)
campaign_events = st.lists(st.one_of(labelled_dispatches, acks, skips), max_size=40)


@settings(max_examples=300)
@given(campaign_events, st.randoms(use_true_random=False), st.integers(0, 10))
def test_any_order_and_any_repeats_give_the_same_insights(
    events: list[MessageEvent], rng: random.Random, repeats: int
) -> None:
    shuffled = events + [rng.choice(events) for _ in range(repeats if events else 0)]
    rng.shuffle(shuffled)
    assert insights_oracle(shuffled) == insights_oracle(events)


@settings(max_examples=300)
@given(campaign_events)
def test_each_histogram_counts_its_counters_messages(events: list[MessageEvent]) -> None:
    counts = oracle(events)
    for campaign, insights in insights_oracle(events).items():
        count = counts[campaign]
        assert sum(insights.time_to_sent) == count.sent
        assert sum(insights.time_to_delivered) == count.delivered
        assert sum(insights.time_to_read) == count.read
        assert sum(f.count for f in insights.failures) == count.failed
        assert sum(k.count for k in insights.skip_reasons) == count.skipped
        for g in insights.groups:
            assert sum(g.time_to_read) == g.counters.read
        per_kind: dict[str, int] = defaultdict(int)
        for g in insights.groups:
            per_kind[g.kind] += g.counters.dispatched
        assert per_kind["variant"] <= count.dispatched
        assert per_kind["template"] <= count.dispatched


def worker_insights(events: list[MessageEvent]) -> dict[str, Insights | None]:
    """What the worker's pure functions make of the events: each message's state folded (a
    skip's with the ``Attempt`` the worker sends it for every dispatch to its recipient), its
    facets summed per campaign, the titles of its counted failures joined."""
    per_message: dict[str, list[MessageEvent]] = defaultdict(list)
    for event in events:
        per_message[event.message_id].append(event)
        if isinstance(event, Dispatch):
            attempt = Attempt(
                message_id=skip_message_id(event.campaign_id, event.recipient),
                received_at=event.received_at or T0,
            )
            per_message[attempt.message_id].append(attempt)
    sums: dict[str, dict[str, int]] = defaultdict(dict)
    titles: dict[str, dict[str, str]] = defaultdict(dict)
    for message_events in per_message.values():
        state = fold(message_events)
        if not state.campaign_id:
            continue
        counted = contribution(state)
        add(sums[state.campaign_id], dict.fromkeys(facets(state, counted), 1))
        if counted[FAILED_INDEX]:
            join_titles(titles[state.campaign_id], state.error_code, state.error_title)
    return {c: insights_of(sums[c], titles[c]) for c in sums}


@settings(max_examples=300)
@given(campaign_events)
def test_the_workers_functions_agree_with_the_oracle(events: list[MessageEvent]) -> None:
    expected = insights_oracle(events)
    got = worker_insights(events)
    assert set(got) == set(expected)
    for campaign, insights in expected.items():
        assert insight_differences(ExpectedInsights.exact(insights), got[campaign]) == []

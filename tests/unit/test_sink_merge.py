"""The sink's pure merge rules: any order, any duplicates, any batching give the same rows."""

from __future__ import annotations

import random as stdlib_random
from datetime import UTC, datetime, timedelta

import msgspec
from hypothesis import given
from hypothesis import strategies as st

from contract.events import (
    MAX_TAGS,
    Dispatch,
    MessageStatus,
    Snapshot,
    Statistics,
    WindowCounts,
    join_tags,
)
from contract.status import effective_status
from sink.merge import (
    latest_snapshots,
    latest_windows,
    merge_participants,
    merge_status,
    merge_statuses,
    row_status,
)
from streams.message_state import EMPTY, join, status_record

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
times = st.one_of(st.none(), st.integers(0, 5).map(lambda s: T0 + timedelta(seconds=s)))
texts = st.sampled_from(["", "a", "b", "Z", "é", "131049"])
# unsorted, repeated and more than MAX_TAGS: the sink must not rely on the worker's tidiness
tag_lists = st.lists(st.sampled_from(["vip", "Z", "a", "é", "b2b", "promo", "q4", "x"]), max_size=7)


@st.composite
def statuses(draw: st.DrawFn, message_id: str = "m1") -> MessageStatus:
    max_rank = draw(st.integers(0, 4))
    failed = draw(st.booleans())
    return MessageStatus(
        message_id=message_id,
        campaign_id="c1",
        workspace_id="w1",
        recipient=draw(texts),
        status=draw(st.sampled_from(["pending", "sent", "bogus"])),  # recomputed by the sink
        max_rank=max_rank,
        failed=failed,
        updated_at=T0 + timedelta(seconds=draw(st.integers(0, 9))),
        dispatched_at=draw(times),
        sent_at=draw(times),
        delivered_at=draw(times),
        read_at=draw(times),
        played_at=draw(times),
        failed_at=draw(times),
        error_code=draw(texts),
        error_title=draw(texts),
        participants=draw(st.dictionaries(st.sampled_from(["p1", "p2", "p3"]), st.integers(0, 4))),
        skipped=draw(st.booleans()),
        attempted=draw(st.booleans()),
        skip_reason_code=draw(texts),
        skip_reason=draw(texts),
        template=draw(texts),
        variant=draw(texts),
        tags=draw(tag_lists),
    )


@given(st.lists(statuses(), min_size=1, max_size=8), st.randoms())
def test_any_order_and_duplicates_give_the_same_row(
    records: list[MessageStatus], random: stdlib_random.Random
) -> None:
    shuffled = records + random.sample(records, k=random.randint(0, len(records)))
    random.shuffle(shuffled)
    assert merge_statuses(shuffled) == merge_statuses(records)


@given(st.lists(statuses(), min_size=1, max_size=8), st.integers(1, 7))
def test_merging_batch_results_equals_merging_everything(
    records: list[MessageStatus], cut: int
) -> None:
    """What the database does: merge a batch's row into the row an earlier batch left."""
    first, second = merge_statuses(records[:cut]), merge_statuses(records[cut:])
    combined = merge_statuses([*first, *second])
    assert combined == merge_statuses(records)


@given(statuses(), statuses())
def test_a_merge_never_lowers_anything(a: MessageStatus, b: MessageStatus) -> None:
    merged = merge_status(a, b)
    assert merged.max_rank == max(a.max_rank, b.max_rank)
    assert merged.failed == (a.failed or b.failed)
    assert merged.skipped == (a.skipped or b.skipped)
    assert merged.attempted == (a.attempted or b.attempted)
    assert merged.status == row_status(
        merged.max_rank, merged.failed, merged.skipped, merged.attempted
    )
    reasons = {(a.skip_reason_code, a.skip_reason), (b.skip_reason_code, b.skip_reason)}
    assert (merged.skip_reason_code, merged.skip_reason) in reasons
    if reasons - {("", "")}:
        assert (merged.skip_reason_code, merged.skip_reason) != ("", "")  # a given reason wins
    for name in ("dispatched_at", "sent_at", "delivered_at", "read_at", "played_at", "failed_at"):
        known = [t for t in (getattr(a, name), getattr(b, name)) if t is not None]
        assert getattr(merged, name) == (min(known) if known else None)
    for participant in {**a.participants, **b.participants}:
        assert merged.participants[participant] == max(
            a.participants.get(participant, 0), b.participants.get(participant, 0)
        )
    for name in ("template", "variant"):
        labels = {getattr(a, name), getattr(b, name)}
        assert getattr(merged, name) in labels
        if labels - {""}:
            assert getattr(merged, name) != ""  # a label beats none


@given(tag_lists, tag_lists)
def test_joined_tags_are_the_smallest_of_the_union(a: list[str], b: list[str]) -> None:
    joined = join_tags(a, b)
    union = {*a, *b}
    assert joined == sorted(set(joined))  # sorted, no repeats
    assert len(joined) == min(len(union), MAX_TAGS)
    assert set(joined) <= union
    assert all(dropped > joined[-1] for dropped in union - set(joined))
    assert join_tags(joined, joined) == joined


def dispatch(template: str, variant: str, tags: list[str]) -> Dispatch:
    return Dispatch(
        message_id="m1",
        campaign_id="c1",
        workspace_id="w1",
        received_at=T0,
        template=template,
        variant=variant,
        tags=tags,
    )


dispatches = st.builds(
    dispatch, texts, texts, tag_lists.map(lambda tags: sorted(set(tags))[:MAX_TAGS])
)


@given(st.lists(dispatches, min_size=1, max_size=6), st.randoms())
def test_the_labels_are_the_workers_whatever_order_its_records_arrive_in(
    events: list[Dispatch], random: stdlib_random.Random
) -> None:
    """The worker emits a record after each dispatch it joins; the sink, merging them in any
    order, keeps the labels of the worker's last one (docs/insights.md)."""
    state, records = EMPTY, []
    for event in events:
        state = join(state, event)
        records.append(status_record("m1", state, T0))
    random.shuffle(records)
    (row,) = merge_statuses(records)
    last = status_record("m1", state, T0)
    assert (row.template, row.variant, row.tags) == (last.template, last.variant, last.tags)


def test_a_record_with_labels_beats_one_without_and_two_labels_keep_the_larger() -> None:
    before = MessageStatus(
        message_id="m",
        campaign_id="c",
        workspace_id="w",
        recipient="",
        status="sent",
        max_rank=1,
        failed=False,
        updated_at=T0,
    )
    labelled = msgspec.structs.replace(before, template="welcome", variant="A", tags=["vip"])
    for records in ([before, labelled], [labelled, before], [labelled, before, labelled]):
        (row,) = merge_statuses(records)
        assert (row.template, row.variant, row.tags) == ("welcome", "A", ["vip"])
    other = msgspec.structs.replace(before, template="promo", variant="B", tags=["b2b", "zz"])
    (row,) = merge_statuses([labelled, other])
    assert (row.template, row.variant, row.tags) == ("welcome", "B", ["b2b", "vip", "zz"])
    (row,) = merge_statuses([msgspec.structs.replace(before, tags=["z", "a", "z"])])
    assert row.tags == ["a", "z"]  # a lone record's tags are tidied too


def test_the_error_is_the_earliest_failures() -> None:
    early = MessageStatus(
        message_id="m",
        campaign_id="c",
        workspace_id="w",
        recipient="",
        status="failed",
        max_rank=0,
        failed=True,
        updated_at=T0,
        failed_at=T0,
        error_code="131026",
        error_title="undeliverable",
    )
    late = MessageStatus(
        message_id="m",
        campaign_id="c",
        workspace_id="w",
        recipient="",
        status="failed",
        max_rank=0,
        failed=True,
        updated_at=T0,
        failed_at=T0 + timedelta(seconds=5),
        error_code="131049",
        error_title="ecosystem",
    )
    assert merge_status(late, early).error_code == "131026"
    assert merge_status(early, late).error_code == "131026"
    unknown = MessageStatus(
        message_id="m",
        campaign_id="c",
        workspace_id="w",
        recipient="",
        status="pending",
        max_rank=0,
        failed=False,
        updated_at=T0,
    )
    assert merge_status(unknown, late).error_code == "131049"


def skip_record(attempted: bool, code: str = "", reason: str = "") -> MessageStatus:
    return MessageStatus(
        message_id="skip:c:+1",
        campaign_id="c",
        workspace_id="w",
        recipient="+1",
        status="attempted" if attempted else "skipped",
        max_rank=0,
        failed=False,
        updated_at=T0,
        skipped=True,
        attempted=attempted,
        skip_reason_code=code,
        skip_reason=reason,
    )


def test_a_skip_followed_by_a_dispatch_is_attempted_in_any_order() -> None:
    skipped = skip_record(False, "no_whatsapp", "no WhatsApp account")
    attempted = skip_record(True)
    for records in ([skipped, attempted], [attempted, skipped], [skipped, attempted, skipped]):
        (row,) = merge_statuses(records)
        assert (row.status, row.skipped, row.attempted) == ("attempted", True, True)
        assert (row.skip_reason_code, row.skip_reason) == ("no_whatsapp", "no WhatsApp account")
    assert merge_statuses([skipped, skipped])[0].status == "skipped"


def test_row_status_of_skips_and_messages() -> None:
    for rank in range(5):
        for failed in (False, True):
            assert row_status(rank, failed, False, False) == effective_status(rank, failed)
            assert row_status(rank, failed, False, True) == effective_status(rank, failed)
            assert row_status(rank, failed, True, False) == "skipped"
            assert row_status(rank, failed, True, True) == "attempted"


def test_delivery_beats_an_earlier_failure() -> None:
    failed = MessageStatus(
        message_id="m",
        campaign_id="c",
        workspace_id="w",
        recipient="",
        status="failed",
        max_rank=1,
        failed=True,
        updated_at=T0,
    )
    delivered = MessageStatus(
        message_id="m",
        campaign_id="c",
        workspace_id="w",
        recipient="",
        status="delivered",
        max_rank=2,
        failed=False,
        updated_at=T0,
    )
    assert merge_status(failed, delivered).status == "delivered"
    assert merge_statuses([delivered, failed])[0].status == "delivered"


def test_one_row_per_message_ordered_by_id() -> None:
    rows = merge_statuses(
        [
            MessageStatus(
                message_id=m,
                campaign_id="c",
                workspace_id="w",
                recipient="",
                status="sent",
                max_rank=1,
                failed=False,
                updated_at=T0,
            )
            for m in ["b", "a", "b", "c", "a"]
        ]
    )
    assert [row.message_id for row in rows] == ["a", "b", "c"]


def test_participants_keep_each_ones_highest_rank() -> None:
    assert merge_participants({"p1": 3, "p2": 1}, {"p2": 2, "p3": 0}) == {"p1": 3, "p2": 2, "p3": 0}
    assert merge_participants({}, {"p1": 1}) == {"p1": 1}


def snapshot(campaign: str, seq: int, window_second: int = 0) -> Snapshot:
    start = T0 + timedelta(seconds=window_second)
    return Snapshot(
        campaign_id=campaign,
        campaign_uuid="",
        workspace_id="w",
        seq=seq,
        window=WindowCounts(start=start, end=start + timedelta(seconds=1), sent=seq),
        statistics=Statistics(
            total_message_count=10,
            total_sent_count=seq,
            total_delivered_count=0,
            total_read_count=0,
            total_played_count=0,
            total_failed_count=0,
            pending_count=10 - seq,
            delivery_rate=0.0,
            read_rate=0.0,
            success_rate=seq * 10.0,
            updated_at=start,
        ),
        timestamp=start,
    )


@given(st.permutations([("a", 1, 0), ("a", 3, 2), ("a", 2, 1), ("b", 7, 0), ("a", 4, 2)]))
def test_the_highest_seq_wins_whatever_the_order(order: list[tuple[str, int, int]]) -> None:
    snapshots = [snapshot(c, seq, w) for c, seq, w in order]
    assert [(s.campaign_id, s.seq) for s in latest_snapshots(snapshots)] == [("a", 4), ("b", 7)]
    windows = [(s.campaign_id, s.window.start, s.seq) for s in latest_windows(snapshots)]
    assert windows == [
        ("a", T0, 1),
        ("a", T0 + timedelta(seconds=1), 2),
        ("a", T0 + timedelta(seconds=2), 4),
        ("b", T0, 7),
    ]

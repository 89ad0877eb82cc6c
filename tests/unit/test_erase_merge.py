"""The sink's merge with erased records (docs/operations.md, "Erasure"): erased wins for good and
blanks the number, and the merge stays order-free, idempotent and batch-free."""

from __future__ import annotations

import random as stdlib_random

import msgspec
from hypothesis import given
from hypothesis import strategies as st

from contract.events import MessageStatus
from sink.merge import merge_status, merge_statuses
from tests.unit.test_sink_merge import statuses


@st.composite
def records(draw: st.DrawFn) -> MessageStatus:
    """A status as the worker writes it, erased or not; an erased one may still name a number
    when another producer wrote it (the merge blanks it all the same)."""
    status = draw(statuses())
    return msgspec.structs.replace(status, erased=draw(st.booleans()))


@given(st.lists(records(), min_size=1, max_size=8), st.randoms())
def test_any_order_and_duplicates_give_the_same_row(
    rows: list[MessageStatus], random: stdlib_random.Random
) -> None:
    shuffled = rows + random.sample(rows, k=random.randint(0, len(rows)))
    random.shuffle(shuffled)
    assert merge_statuses(shuffled) == merge_statuses(rows)


@given(st.lists(records(), min_size=1, max_size=8), st.integers(1, 7))
def test_merging_batch_results_equals_merging_everything(
    rows: list[MessageStatus], cut: int
) -> None:
    first, second = merge_statuses(rows[:cut]), merge_statuses(rows[cut:])
    assert merge_statuses([*first, *second]) == merge_statuses(rows)


@given(st.lists(records(), min_size=1, max_size=8))
def test_erased_wins_and_blanks_the_number(rows: list[MessageStatus]) -> None:
    (row,) = merge_statuses(rows)
    assert row.erased == any(r.erased for r in rows)
    if row.erased:
        assert (row.recipient, row.participants) == ("", {})
    else:
        assert row.recipient == max(r.recipient for r in rows)


@given(records(), records(), records())
def test_once_erased_a_merge_never_brings_the_number_back(
    erased: MessageStatus, earlier: MessageStatus, later: MessageStatus
) -> None:
    """A replayed or late record of the message (not erased, naming the number) meets the row."""
    row = merge_status(earlier, msgspec.structs.replace(erased, erased=True))
    for other in (later, msgspec.structs.replace(later, recipient="+4915100", erased=False)):
        merged = merge_status(row, other)
        assert merged.erased and (merged.recipient, merged.participants) == ("", {})
        assert merge_status(other, row) == merged

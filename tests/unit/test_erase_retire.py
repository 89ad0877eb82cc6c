"""Stage 1 drops an erased skip through the retention sweep's own function
(``streams.retention.retire``): the key that holds the number leaves the table, and the campaign's
counts and breakdowns stay where they were, one erasure after another."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from contract.events import Attempt, Dispatch, Erase, MessageEvent, Skip, skip_message_id
from streams.message_state import MessageState, fold, retired_on_erasure
from streams.retention import Retired, retire
from tests.unit.test_retention import apply, sums

T0 = datetime(2026, 11, 1, tzinfo=UTC)
NUMBERS = [f"+49151{n:02d}" for n in range(6)]


def skip(campaign: str, number: str, second: int) -> Skip:
    return Skip(
        message_id=skip_message_id(campaign, number),
        campaign_id=campaign,
        workspace_id="w1",
        recipient=number,
        received_at=T0 + timedelta(seconds=second),
    )


def dispatch(message_id: str, campaign: str, number: str) -> Dispatch:
    return Dispatch(
        message_id=message_id,
        campaign_id=campaign,
        workspace_id="w1",
        recipient=number,
        received_at=T0,
    )


# per recipient and campaign: a skip, maybe a message dispatched to them after all (its attempt
# reaches the skip key), maybe only the attempt (a dispatch with no skip)
audiences = st.lists(
    st.tuples(
        st.sampled_from(["c1", "c2"]),
        st.sampled_from(NUMBERS),
        st.sampled_from(["skipped", "skipped then sent", "sent"]),
        st.integers(0, 9),
    ),
    min_size=1,
    max_size=12,
)


def table_of(audience: list[tuple[str, str, str, int]]) -> dict[bytes, MessageState]:
    per_key: dict[str, list[MessageEvent]] = {}
    for n, (campaign, number, fate, second) in enumerate(audience):
        skip_id = skip_message_id(campaign, number)
        if fate != "sent":
            per_key.setdefault(skip_id, []).append(skip(campaign, number, second))
        if fate != "skipped":
            message_id = f"m{n}"
            per_key.setdefault(message_id, []).append(dispatch(message_id, campaign, number))
            per_key.setdefault(skip_id, []).append(Attempt(message_id=skip_id, received_at=T0))
    return {key.encode(): fold(events) for key, events in per_key.items()}


@settings(max_examples=300)
@given(audiences, st.sampled_from(NUMBERS))
def test_erasing_skip_keys_keeps_every_count(
    audience: list[tuple[str, str, str, int]], number: str
) -> None:
    table = table_of(audience)
    before = sums(table, {})
    retired: dict[str, Retired] = {}
    erase = Erase(message_id="-", workspace_id="w1", received_at=T0 + timedelta(days=1))
    for campaign in ("c1", "c2", "c3"):  # the command erases the key of every campaign
        key = skip_message_id(campaign, number).encode()
        state = table.get(key)
        if state is None:
            continue  # stage 1 has nothing to drop or count
        erased = fold([erase], state)
        assert retired_on_erasure(erased)
        (group,), _ = retire(0, [(key, erased)], retired.get)
        apply(table, retired, group)
        assert sums(table, retired) == before
        assert key not in table
    assert not any(number.encode() in key for key in table if key.startswith(b"skip:"))

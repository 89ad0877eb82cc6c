"""Per-message state as a join-semilattice (docs/contract.md), and what a message adds to its
campaign.

Every event is *joined* into the state: highest rank, failed flag (OR), earliest first-seen times,
campaign set by the dispatch. Joining is commutative, associative and idempotent, so any order,
any number of duplicates and any replay after a crash give the same state — the base of the
exactness argument in docs/exactness.md. Pure functions, no I/O.
"""

from __future__ import annotations

from datetime import datetime

import msgspec

from contract.events import (
    AckEvent,
    Attempt,
    Dispatch,
    Erase,
    MessageEvent,
    MessageStatus,
    Skip,
    join_tags,
)
from contract.status import RANK_OF, earliest, effective_status

# The fields holding the first time each rank (1..4) was seen, by rank.
RANK_TIME_FIELDS = ("", "sent_at", "delivered_at", "read_at", "played_at")

# A message's contribution to its campaign's counters:
# (dispatched, sent, delivered, read, played, failed, skipped).
Contribution = tuple[int, int, int, int, int, int, int]
NO_CONTRIBUTION: Contribution = (0, 0, 0, 0, 0, 0, 0)
WIDTH = len(NO_CONTRIBUTION)
SENT_INDEX, DELIVERED_INDEX, READ_INDEX, FAILED_INDEX, SKIPPED_INDEX = 1, 2, 3, 5, 6


class MessageState(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """What is known of one message. ``max_rank`` never decreases; ``failed`` never clears.

    ``recipient`` comes from the dispatch; ``ack_recipient`` is the largest recipient any ack
    named, shown only when the dispatch named none (keeping them apart keeps the join order-free).
    """

    max_rank: int = 0
    failed: bool = False
    campaign_id: str = ""
    workspace_id: str = ""
    recipient: str = ""
    ack_recipient: str = ""
    dispatched_at: datetime | None = None
    sent_at: datetime | None = None
    delivered_at: datetime | None = None
    read_at: datetime | None = None
    played_at: datetime | None = None
    failed_at: datetime | None = None
    error_code: str = ""
    error_title: str = ""
    participants: dict[str, int] = {}
    last_event_at: datetime | None = None
    # the state of a skip (key skip_message_id(campaign, recipient)), not of a message
    skipped: bool = False
    attempted: bool = False
    skip_reason_code: str = ""
    skip_reason: str = ""
    # the dispatch's labels, for the breakdowns of docs/insights.md
    template: str = ""
    variant: str = ""
    tags: list[str] = []
    # the recipient's number was erased (docs/operations.md, "Erasure"): never cleared, and while
    # set, recipient, ack_recipient and participants stay empty whatever is joined after
    erased: bool = False


EMPTY = MessageState()


def _latest(current: datetime | None, candidate: datetime | None) -> datetime | None:
    if current is None:
        return candidate
    if candidate is None:
        return current
    return max(current, candidate)


def _join_dispatch(state: MessageState, dispatch: Dispatch) -> MessageState:
    if state.campaign_id and state.campaign_id != dispatch.campaign_id:
        # A message belongs to one campaign; a second campaign's claim is a sender bug and is
        # ignored (the first dispatch in log order wins) — see docs/exactness.md.
        return state
    return msgspec.structs.replace(
        state,
        campaign_id=dispatch.campaign_id,
        workspace_id=state.workspace_id or dispatch.workspace_id,
        recipient=dispatch.recipient or state.recipient,
        dispatched_at=earliest(state.dispatched_at, dispatch.dispatched_at or dispatch.received_at),
        last_event_at=_latest(state.last_event_at, dispatch.received_at),
        template=max(state.template, dispatch.template),
        variant=max(state.variant, dispatch.variant),
        tags=join_tags(state.tags, dispatch.tags),
    )


def _join_failure(state: MessageState, ack: AckEvent, seen: datetime) -> MessageState:
    # The error kept is the one of the earliest failure; equal times keep the larger pair, so the
    # choice does not depend on arrival order.
    code, title = state.error_code, state.error_title
    earlier = state.failed_at is None or seen < state.failed_at
    tie_larger = seen == state.failed_at and (ack.error_code, ack.error_title) > (code, title)
    if earlier or tie_larger:
        code, title = ack.error_code, ack.error_title
    return msgspec.structs.replace(
        state,
        failed=True,
        failed_at=earliest(state.failed_at, seen),
        error_code=code,
        error_title=title,
        ack_recipient=max(state.ack_recipient, ack.recipient),
        last_event_at=_latest(state.last_event_at, ack.received_at),
    )


def _join_ack(state: MessageState, ack: AckEvent) -> MessageState:
    seen = ack.occurred_at or ack.received_at
    if ack.status == "failed":
        return _join_failure(state, ack, seen)
    rank = RANK_OF[ack.status]
    changes: dict[str, object] = {
        "max_rank": max(state.max_rank, rank),
        "last_event_at": _latest(state.last_event_at, ack.received_at),
        "ack_recipient": max(state.ack_recipient, ack.recipient),
    }
    # A read proves delivery: every rank up to the reported one was reached by then.
    for lower in range(1, rank + 1):
        field = RANK_TIME_FIELDS[lower]
        changes[field] = earliest(getattr(state, field), seen)
    if ack.participant:
        participants = dict(state.participants)
        participants[ack.participant] = max(participants.get(ack.participant, 0), rank)
        changes["participants"] = participants
    return msgspec.structs.replace(state, **changes)


def _join_skip(state: MessageState, skip: Skip) -> MessageState:
    # Several reports for one recipient keep the larger reason, whatever their order.
    reason = max((state.skip_reason_code, state.skip_reason), (skip.reason_code, skip.reason))
    return msgspec.structs.replace(
        state,
        skipped=True,
        campaign_id=state.campaign_id or skip.campaign_id,
        workspace_id=state.workspace_id or skip.workspace_id,
        recipient=state.recipient or skip.recipient,
        skip_reason_code=reason[0],
        skip_reason=reason[1],
        last_event_at=_latest(state.last_event_at, skip.received_at),
    )


def _join_attempt(state: MessageState, attempt: Attempt) -> MessageState:
    return msgspec.structs.replace(
        state, attempted=True, last_event_at=_latest(state.last_event_at, attempt.received_at)
    )


def _join_erase(state: MessageState, erase: Erase) -> MessageState:
    return msgspec.structs.replace(
        state, erased=True, last_event_at=_latest(state.last_event_at, erase.received_at)
    )


def _forget_numbers(state: MessageState) -> MessageState:
    """An erased state without the fields that hold numbers; nothing it counts depends on them,
    so blanking them after every join keeps the join a semilattice and the counts as they were."""
    if not (state.recipient or state.ack_recipient or state.participants):
        return state
    return msgspec.structs.replace(state, recipient="", ack_recipient="", participants={})


def _join_event(state: MessageState, event: MessageEvent) -> MessageState:
    if isinstance(event, Dispatch):
        return _join_dispatch(state, event)
    if isinstance(event, Skip):
        return _join_skip(state, event)
    if isinstance(event, Attempt):
        return _join_attempt(state, event)
    if isinstance(event, Erase):
        return _join_erase(state, event)
    return _join_ack(state, event)


def join(state: MessageState, event: MessageEvent) -> MessageState:
    """The state after also knowing ``event``."""
    joined = _join_event(state, event)
    return _forget_numbers(joined) if joined.erased else joined


def retired_on_erasure(state: MessageState) -> bool:
    """An erased state stage 1 drops instead of storing (its count kept in the retired entry,
    ``streams.retention``): a skip, whose key ``skip:{campaign}:{recipient}`` holds the number, or
    a state of no campaign, which counts nothing. An erased campaign message stays, so a late
    dispatch or ack cannot bring its number back."""
    return state.erased and (state.skipped or not state.campaign_id)


def fold(events: list[MessageEvent], state: MessageState = EMPTY) -> MessageState:
    """Join every event into ``state`` (in the given order; any order gives the same result)."""
    for event in events:
        state = join(state, event)
    return state


def contribution(state: MessageState) -> Contribution:
    """What the message adds to its campaign's counters (nothing until it joins a campaign)."""
    if not state.campaign_id:
        return NO_CONTRIBUTION
    if state.skipped:
        # a skip counts until a dispatch to the same recipient follows
        return (0, 0, 0, 0, 0, 0, int(not state.attempted))
    status = effective_status(state.max_rank, state.failed)
    rank = RANK_OF.get(status, -1)  # failed has no rank
    return (
        1,
        int(rank >= 1),
        int(rank >= 2),
        int(rank >= 3),
        int(rank >= 4),
        int(status == "failed"),
        0,
    )


def display_status(state: MessageState) -> str:
    """The status a person sees: a skip's, or the message's effective status."""
    if state.skipped:
        return "attempted" if state.attempted else "skipped"
    return effective_status(state.max_rank, state.failed)


def status_record(message_id: str, state: MessageState, updated_at: datetime) -> MessageStatus:
    """The ``message-status`` record of a message (or skip) that belongs to a campaign."""
    return MessageStatus(
        message_id=message_id,
        campaign_id=state.campaign_id,
        workspace_id=state.workspace_id,
        recipient=state.recipient or state.ack_recipient,
        status=display_status(state),
        max_rank=state.max_rank,
        failed=state.failed,
        updated_at=updated_at,
        dispatched_at=state.dispatched_at,
        sent_at=state.sent_at,
        delivered_at=state.delivered_at,
        read_at=state.read_at,
        played_at=state.played_at,
        failed_at=state.failed_at,
        error_code=state.error_code,
        error_title=state.error_title,
        participants=state.participants,
        skipped=state.skipped,
        attempted=state.attempted,
        skip_reason_code=state.skip_reason_code,
        skip_reason=state.skip_reason,
        template=state.template,
        variant=state.variant,
        tags=state.tags,
        erased=state.erased,
    )

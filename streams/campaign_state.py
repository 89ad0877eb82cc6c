"""Per-campaign state of stage 2 and the snapshot math over it. Pure functions, no I/O.

A campaign's counters are the sum of one *partial* per stage-1 partition: each partial is that
partition's whole contribution, and a newer one replaces the older (applying it twice changes
nothing). The difference between the old and the new partial is recorded in the tumbling window
in which it arrived, so the windows of a campaign always add up to its counters.
"""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec

from contract.events import (
    CampaignPartial,
    CampaignRegistration,
    Counters,
    Snapshot,
    WindowCounts,
)
from contract.status import earliest
from streams.insights import add, difference, insights_of, merged_titles, total
from streams.stats import (
    add_counters,
    is_complete,
    statistics,
    subtract_counters,
    sum_counters,
)


class CampaignState(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """What stage 2 keeps per campaign (one value of the ``campaigns`` table)."""

    campaign_id: str
    workspace_id: str = ""
    uuid: str = ""
    name: str = ""
    total_recipients: int = 0
    partials: dict[int, Counters] = {}
    # start of a window (ms since the epoch) → what changed in it; emitted windows are dropped.
    windows: dict[int, Counters] = {}
    # the same for the breakdowns (streams.insights): facets per partition, changes per window.
    # A partition's facets stay encoded (sorted keys, one encoding per content): a partial is
    # applied many times a second, and only a snapshot needs them all decoded.
    facet_partials: dict[int, msgspec.Raw] = {}
    facet_windows: dict[int, dict[str, int]] = {}
    titles: dict[str, str] = {}
    # start of the newest window whose snapshot has been written to campaign-stats.
    emitted_through: int = -1
    started_at: datetime | None = None  # the first dispatch
    completed_at: datetime | None = None  # when nothing was queued or awaiting any more


_facets_encoder = msgspec.json.Encoder(order="sorted")
_facets_decoder = msgspec.json.Decoder(dict[str, int])


def _decoded(raw: msgspec.Raw | None) -> dict[str, int]:
    return {} if raw is None else _facets_decoder.decode(raw)


def window_start_ms(now_ms: int, window_ms: int) -> int:
    """Start of the tumbling window holding ``now_ms``."""
    return now_ms - now_ms % window_ms


def _open_window(state: CampaignState, now_ms: int, window_ms: int) -> int:
    """The window a change made now goes to. A clock that went back (another worker took over)
    must not reopen a window whose snapshot is written, so such a change goes to the next one."""
    start = window_start_ms(now_ms, window_ms)
    if start <= state.emitted_through:
        start = state.emitted_through + window_ms
    return start


def _touch(
    state: CampaignState, now_ms: int, window_ms: int, delta: Counters
) -> dict[int, Counters]:
    """Add ``delta`` to the open window."""
    start = _open_window(state, now_ms, window_ms)
    updated = dict(state.windows)
    updated[start] = add_counters(updated.get(start, Counters()), delta)
    return updated


def _touch_facets(
    state: CampaignState, now_ms: int, window_ms: int, delta: dict[str, int]
) -> dict[int, dict[str, int]]:
    if not delta:
        return state.facet_windows
    start = _open_window(state, now_ms, window_ms)
    updated = dict(state.facet_windows)
    changed = dict(updated.get(start, {}))
    add(changed, delta)
    updated[start] = changed
    return updated


def apply_partial(
    state: CampaignState, partial: CampaignPartial, now_ms: int, window_ms: int
) -> CampaignState:
    """Replace the partial of ``partial.source_partition``; record the change in the window."""
    source = partial.source_partition
    old = state.partials.get(source, Counters())
    old_raw = state.facet_partials.get(source)
    new_raw = msgspec.Raw(_facets_encoder.encode(partial.facets)) if partial.facets else None
    facets_same = old_raw == new_raw
    started = earliest(state.started_at, partial.started_at)
    titles = merged_titles((state.titles, partial.titles))
    if (
        old == partial.counters
        and facets_same
        and titles == state.titles
        and state.workspace_id
        and started == state.started_at
    ):
        return state
    partials = dict(state.partials)
    partials[source] = partial.counters
    facet_partials = state.facet_partials
    delta: dict[str, int] = {}
    if not facets_same:
        facet_partials = dict(facet_partials)
        if new_raw is None:
            del facet_partials[source]
        else:
            facet_partials[source] = new_raw
        delta = difference(partial.facets, _decoded(old_raw))
    return msgspec.structs.replace(
        state,
        workspace_id=state.workspace_id or partial.workspace_id,
        partials=partials,
        facet_partials=facet_partials,
        titles=titles,
        started_at=started,
        windows=_touch(state, now_ms, window_ms, subtract_counters(partial.counters, old)),
        facet_windows=_touch_facets(state, now_ms, window_ms, delta),
    )


def apply_registration(
    state: CampaignState, registration: CampaignRegistration, now_ms: int, window_ms: int
) -> CampaignState:
    """Take the sender's metadata; a change of it alone also earns a snapshot.

    The workspace is set once: a campaign never moves to another workspace.
    """
    updated = msgspec.structs.replace(
        state,
        workspace_id=state.workspace_id or registration.workspace_id,
        uuid=registration.uuid or state.uuid,
        name=registration.name or state.name,
        total_recipients=registration.total_recipients,
    )
    if updated == state:
        return state
    return msgspec.structs.replace(updated, windows=_touch(state, now_ms, window_ms, Counters()))


def totals(state: CampaignState) -> Counters:
    return sum_counters(list(state.partials.values()))


def due_windows(state: CampaignState, now_ms: int, window_ms: int) -> list[int]:
    """Windows that have ended and whose snapshot has not been written yet, oldest first."""
    return sorted(
        start
        for start in state.windows
        if start > state.emitted_through and start + window_ms <= now_ms
    )


def _ms_to_datetime(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def snapshot(state: CampaignState, start: int, window_ms: int, now: datetime) -> Snapshot:
    """The snapshot of window ``start``: its changes and the counters as they stood at its end.

    Counters at the end of the window are today's totals minus what later windows added, so a
    snapshot written late (after a restart) says the same as one written on time. ``seq`` is the
    window's end in milliseconds: it grows with every window and is the same if a crash makes a
    window's snapshot be written twice.
    """
    later = sum_counters([delta for begin, delta in state.windows.items() if begin > start])
    at_end = subtract_counters(totals(state), later)
    facets_at_end = total(_decoded(raw) for raw in state.facet_partials.values())
    for begin, delta in state.facet_windows.items():
        if begin > start:
            add(facets_at_end, delta, -1)
    change = state.windows.get(start, Counters())
    end = start + window_ms
    stats = statistics(
        at_end,
        state.total_recipients,
        _ms_to_datetime(end),
        started_at=state.started_at,
        completed_at=state.completed_at,
    )
    if not is_complete(stats):
        stats = msgspec.structs.replace(stats, completed_at=None)
    elif stats.completed_at is None:
        stats = msgspec.structs.replace(stats, completed_at=_ms_to_datetime(end))
    return Snapshot(
        campaign_id=state.campaign_id,
        campaign_uuid=state.uuid,
        workspace_id=state.workspace_id,
        seq=end,
        window=WindowCounts(
            start=_ms_to_datetime(start),
            end=_ms_to_datetime(end),
            sent=change.sent,
            delivered=change.delivered,
            read=change.read,
            played=change.played,
            failed=change.failed,
            skipped=change.skipped,
        ),
        statistics=stats,
        timestamp=now,
        campaign_name=state.name,
        insights=insights_of(facets_at_end, state.titles),
    )


def mark_emitted(
    state: CampaignState, through: int, completed_at: datetime | None = None
) -> CampaignState:
    """Forget the windows up to ``through``: their snapshots are on the topic. ``completed_at`` is
    what the last of them said, so the moment of completion is kept (and announced) once."""
    return msgspec.structs.replace(
        state,
        completed_at=completed_at,
        emitted_through=max(state.emitted_through, through),
        windows={start: delta for start, delta in state.windows.items() if start > through},
        facet_windows={
            start: delta for start, delta in state.facet_windows.items() if start > through
        },
    )

"""The breakdowns of a campaign (docs/insights.md) as *facets*: named counts a message adds 1 to.

A message's facets are a pure function of its state — its time buckets, its failure reason, and
for each group it belongs to (variant, template, tag) the counters it adds there. Campaign sums
then add and subtract facets exactly as they do the seven counters (``streams.aggregates``), so
the breakdowns keep the counters' guarantees: the state is a join-semilattice, a message moves
its facets from its old state to its new one, and a replay moves nothing. No I/O.

Facet names are private to the worker (they travel in ``CampaignPartial.facets`` between its
stages); :func:`insights_of` turns summed facets into the contract's ``Insights``.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Mapping

from contract.events import Failure, GroupStatistics, Insights, SkipReason
from contract.insights import BOUNDS_SECONDS, BUCKETS, UNCODED_TITLE_CHARS, failure_title
from streams.message_state import (
    DELIVERED_INDEX,
    FAILED_INDEX,
    READ_INDEX,
    SENT_INDEX,
    SKIPPED_INDEX,
    WIDTH,
    Contribution,
    MessageState,
)
from streams.stats import counters_of

# The time histograms: facet prefix, contract field.
STAGES = (("s", "time_to_sent"), ("d", "time_to_delivered"), ("r", "time_to_read"))
_SENT, _DELIVERED, _READ = (tuple(f"{prefix}{i}" for i in range(BUCKETS)) for prefix, _ in STAGES)
GROUP_KINDS = {"v": "variant", "t": "template", "g": "tag"}
_PROFILES: dict[Contribution, str] = {}  # the few contributions there are, met once each
_READ_SUFFIX = tuple(f"r{i}" for i in range(BUCKETS))
NO_FACETS: frozenset[str] = frozenset()
Facets = dict[str, int]


def failure_facet(code: str, title: str) -> str:
    """A failure reason: its code, or for a failure with none, its (cut) text."""
    return "f:" + code if code else "f:\n" + title[:UNCODED_TITLE_CHARS]


def skip_facet(code: str, reason: str) -> str:
    """A skip reason: its code and its (cut) text, both the sender's."""
    return "k:" + code + "\n" + reason[:UNCODED_TITLE_CHARS]


def facets(state: MessageState, counted: Contribution) -> frozenset[str]:
    """The facets of a message whose contribution is ``counted``: a time bucket for every stage
    it is counted in, its failure reason when counted as failed, and per group the counters it
    adds there plus its time-to-read bucket.

    Runs twice for every message an event changes, so it is written for speed (see the
    throughput figures in docs/worker.md)."""
    if not counted[0]:  # not a dispatched message of a campaign
        if counted[SKIPPED_INDEX]:  # an audience member skipped: its reason
            return frozenset((skip_facet(state.skip_reason_code, state.skip_reason),))
        return NO_FACETS
    found: list[str] = []
    read_bucket = -1
    base = state.dispatched_at
    if base is not None:
        if counted[SENT_INDEX] and state.sent_at is not None:
            found.append(
                _SENT[bisect_right(BOUNDS_SECONDS, (state.sent_at - base).total_seconds())]
            )
        if counted[DELIVERED_INDEX] and state.delivered_at is not None:
            seconds = (state.delivered_at - base).total_seconds()
            found.append(_DELIVERED[bisect_right(BOUNDS_SECONDS, seconds)])
        if counted[READ_INDEX] and state.read_at is not None:
            read_bucket = bisect_right(BOUNDS_SECONDS, (state.read_at - base).total_seconds())
            found.append(_READ[read_bucket])
    if counted[FAILED_INDEX]:
        found.append(failure_facet(state.error_code, state.error_title))
    if state.variant or state.template or state.tags:
        # one facet per group: the message's profile there (the counters it adds, and its
        # time-to-read bucket), so a message in five groups adds five facets, not thirty
        profile = _PROFILES.get(counted) or _profile(counted)
        if read_bucket >= 0:
            profile += _READ_SUFFIX[read_bucket]
        if state.variant:
            found.append(f"v{profile}:{state.variant}")
        if state.template:
            found.append(f"t{profile}:{state.template}")
        for tag in state.tags:
            found.append(f"g{profile}:{tag}")
    return frozenset(found)


def _profile(counted: Contribution) -> str:
    """The counters a message adds, as their indexes ("0123": dispatched to read)."""
    profile = _PROFILES[counted] = "".join(str(i) for i in range(WIDTH) if counted[i])
    return profile


def move(counts: Facets, old: frozenset[str], new: frozenset[str]) -> None:
    """Move one message from facets ``old`` to ``new`` in ``counts`` (zero counts are dropped)."""
    for name in old - new:
        left = counts.get(name, 0) - 1
        if left:
            counts[name] = left
        else:
            counts.pop(name, None)
    for name in new - old:
        counts[name] = counts.get(name, 0) + 1


def add(counts: Facets, other: Mapping[str, int], sign: int = 1) -> None:
    """Add (or, ``sign`` -1, subtract) ``other`` into ``counts``."""
    for name, value in other.items():
        total = counts.get(name, 0) + sign * value
        if total:
            counts[name] = total
        else:
            counts.pop(name, None)


def total(parts: Iterable[Mapping[str, int]]) -> Facets:
    summed: Facets = {}
    for part in parts:
        add(summed, part)
    return summed


def difference(new: Mapping[str, int], old: Mapping[str, int]) -> Facets:
    """What changed from ``old`` to ``new`` (only the facets that did: usually a few)."""
    changed = {name: count - old.get(name, 0) for name, count in new.items()}
    changed = {name: delta for name, delta in changed.items() if delta}
    for name, count in old.items():
        if name not in new:
            changed[name] = -count
    return changed


def failure_title_of(state: MessageState, counted: Contribution) -> tuple[str, str] | None:
    """The (code, title) a message lends its campaign's failure titles: only while it counts as
    failed, and only a coded failure with a title (a code-less one is told apart by its text)."""
    if counted[FAILED_INDEX] and state.error_code and state.error_title:
        return state.error_code, state.error_title
    return None


def join_titles(titles: dict[str, str], code: str, title: str) -> None:
    """Keep the largest title seen for a code: the same whatever order failures come in."""
    if code and title and title > titles.get(code, ""):
        titles[code] = title


def merged_titles(parts: Iterable[Mapping[str, str]]) -> dict[str, str]:
    merged: dict[str, str] = {}
    for part in parts:
        for code, title in part.items():
            join_titles(merged, code, title)
    return merged


def insights_of(counts: Mapping[str, int], titles: Mapping[str, str]) -> Insights | None:
    """The contract's insights from a campaign's summed facets (None when it has none)."""
    if not counts:
        return None
    histograms = {prefix: [0] * BUCKETS for prefix, _ in STAGES}
    failures: list[Failure] = []
    skips: list[SkipReason] = []
    groups: dict[tuple[str, str], tuple[list[int], list[int]]] = {}
    for name, count in counts.items():
        if name.startswith("f:"):
            code, _, text = name[2:].partition("\n")
            title = failure_title(code, titles.get(code, "")) if code else text
            failures.append(Failure(code=code, title=title, count=count))
        elif name.startswith("k:"):
            code, _, reason = name[2:].partition("\n")
            skips.append(SkipReason(code=code, reason=reason, count=count))
        elif name[0] in GROUP_KINDS:
            profile, _, value = name[1:].partition(":")
            indexes, _, read_bucket = profile.partition("r")
            values, read_times = groups.setdefault((name[0], value), ([0] * WIDTH, [0] * BUCKETS))
            for index in indexes:
                values[int(index)] += count
            if read_bucket:
                read_times[int(read_bucket)] += count
        else:
            histograms[name[0]][int(name[1:])] += count
    by_field = {field: histograms[prefix] for prefix, field in STAGES}
    return Insights(
        time_to_sent=by_field["time_to_sent"],
        time_to_delivered=by_field["time_to_delivered"],
        time_to_read=by_field["time_to_read"],
        failures=sorted(failures, key=lambda f: (-f.count, f.code, f.title)),
        skip_reasons=sorted(skips, key=lambda k: (-k.count, k.code, k.reason)),
        groups=[
            GroupStatistics(
                kind=GROUP_KINDS[kind],
                value=value,
                counters=counters_of(tuple(values)),
                time_to_read=read_times,
            )
            for (kind, value), (values, read_times) in sorted(groups.items())
        ],
    )

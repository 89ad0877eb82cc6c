"""The oracle: a campaign's counts and insights recomputed from scratch from the events it was sent.

Used by the worker's tests, its benchmarks and the simulator, so that every one of them checks the
pipeline against the same plain reading of the rules — the status rules (``contract/status.py``,
docs/contract.md) and the definitions of docs/insights.md — deliberately not the worker's join
code: each message's events are gathered whole, then every figure is read off them with ``min``
and ``max``, where the worker folds one event at a time into a state.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from contract.events import (
    MAX_TAGS,
    AckEvent,
    Attempt,
    Counters,
    Dispatch,
    Erase,
    Failure,
    GroupStatistics,
    Insights,
    MessageEvent,
    Skip,
    SkipReason,
)
from contract.insights import BUCKETS, UNCODED_TITLE_CHARS, bucket_of, failure_title
from contract.status import RANK_OF


@dataclass(frozen=True, slots=True)
class Expected:
    """The counts a campaign must end with."""

    dispatched: int
    sent: int
    delivered: int
    read: int
    played: int
    failed: int
    skipped: int = 0


# The counters in Expected's order; a message adds 0 or 1 to each.
COUNTERS = ("dispatched", "sent", "delivered", "read", "played", "failed", "skipped")
SENT, DELIVERED, READ, FAILED = 1, 2, 3, 5
# The time distributions: the counter a message must be counted in, the field.
STAGES = ((SENT, "time_to_sent"), (DELIVERED, "time_to_delivered"), (READ, "time_to_read"))


@dataclass(slots=True)
class _Message:
    """Everything the events say about one message: its campaign (the first dispatch's), the
    dispatches of that campaign, and every ack."""

    campaign: str = ""
    dispatches: list[Dispatch] = field(default_factory=list)
    acks: list[AckEvent] = field(default_factory=list)

    def counted(self) -> tuple[int, ...]:
        """What it adds to each counter (docs/contract.md, "Campaign counters")."""
        rank = max((RANK_OF[a.status] for a in self.acks if a.status != "failed"), default=0)
        failed = any(a.status == "failed" for a in self.acks)
        if rank >= 2:  # proof of delivery beats a failure report
            return (1, 1, 1, int(rank >= 3), int(rank >= 4), 0, 0)
        if failed:
            return (1, 0, 0, 0, 0, 1, 0)
        return (1, int(rank == 1), 0, 0, 0, 0, 0)

    def dispatched_at(self) -> datetime | None:
        """The earliest dispatch time any dispatch gives (its own, else when ingest got it)."""
        times = [d.dispatched_at or d.received_at for d in self.dispatches]
        return min((t for t in times if t is not None), default=None)

    def first_seen(self, rank: int) -> datetime | None:
        """When the message was first known to have reached ``rank``: an ack of a higher rank
        says it too (a read proves delivery)."""
        return min(
            (_seen(a) for a in self.acks if a.status != "failed" and RANK_OF[a.status] >= rank),
            default=None,
        )

    def failure(self) -> tuple[str, str]:
        """Code and title of the earliest failure; of several at that time, the largest pair."""
        failures = [a for a in self.acks if a.status == "failed"]
        first = min(_seen(a) for a in failures)
        return max((a.error_code, a.error_title) for a in failures if _seen(a) == first)

    def labels(self) -> list[tuple[str, str]]:
        """The groups it is in: the largest variant and template any dispatch names, and the
        five smallest of all the tags they name."""
        variant = max(d.variant for d in self.dispatches)
        template = max(d.template for d in self.dispatches)
        tags = sorted({tag for d in self.dispatches for tag in d.tags})[:MAX_TAGS]
        found = [("variant", variant), ("template", template)]
        return [(kind, value) for kind, value in found if value] + [("tag", t) for t in tags]


def _seen(ack: AckEvent) -> datetime:
    """When an ack happened: the provider's event time, else when ingest received it."""
    return ack.occurred_at or ack.received_at


@dataclass(slots=True)
class _Campaigns:
    messages: dict[str, _Message]
    # (campaign, recipient) of every skip with the (reason_code, reason) of each report of it,
    # and of every dispatch (which cancels a skip)
    skipped: dict[tuple[str, str], list[tuple[str, str]]]
    attempted: set[tuple[str, str]]

    def counted_skips(self) -> dict[tuple[str, str], tuple[str, str]]:
        """The skips that count (no dispatch to the recipient followed), each with its reason:
        of several reports, the largest (reason_code, reason) pair, so that their order does
        not matter; the reason cut like a code-less failure's text (docs/insights.md)."""
        found = {}
        for key, reasons in self.skipped.items():
            if key not in self.attempted:
                code, reason = max(reasons)
                found[key] = (code, reason[:UNCODED_TITLE_CHARS])
        return found


def _gather(events: Iterable[MessageEvent]) -> _Campaigns:
    """Each message's events; a message belongs to the campaign of its first dispatch (in the
    given order), a second campaign's claim is ignored."""
    messages: dict[str, _Message] = defaultdict(_Message)
    skipped: dict[tuple[str, str], list[tuple[str, str]]] = defaultdict(list)
    attempted: set[tuple[str, str]] = set()
    for event in events:
        if isinstance(event, Dispatch):
            message = messages[event.message_id]
            message.campaign = message.campaign or event.campaign_id
            if event.campaign_id == message.campaign:
                message.dispatches.append(event)
            attempted.add((event.campaign_id, event.recipient))
        elif isinstance(event, Skip):
            reason = (event.reason_code, event.reason)
            skipped[(event.campaign_id, event.recipient)].append(reason)
        elif isinstance(event, Attempt | Erase):
            continue  # the worker's own bookkeeping and erasures: they change no count
        else:
            messages[event.message_id].acks.append(event)
    return _Campaigns(dict(messages), dict(skipped), attempted)


def oracle(events: Iterable[MessageEvent]) -> dict[str, Expected]:
    """Counts per campaign, recomputed from scratch by the letter of the status rules."""
    gathered = _gather(events)
    tallies: dict[str, list[int]] = defaultdict(lambda: [0] * len(COUNTERS))
    for campaign, recipient in gathered.skipped:  # a dispatch after a skip cancels it
        tallies[campaign][6] += (campaign, recipient) not in gathered.attempted
    for message in gathered.messages.values():
        if message.campaign:
            _add(tallies[message.campaign], message.counted())
    return {campaign: Expected(*row) for campaign, row in tallies.items()}


def _add(row: list[int], counted: tuple[int, ...]) -> None:
    for index, value in enumerate(counted):
        row[index] += value


@dataclass(slots=True)
class _Breakdown:
    """One campaign's insights while they are summed."""

    times: dict[str, list[int]] = field(
        default_factory=lambda: {name: [0] * BUCKETS for _, name in STAGES}
    )
    failures: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))
    titles: dict[str, str] = field(default_factory=dict)
    groups: dict[tuple[str, str], tuple[list[int], list[int]]] = field(default_factory=dict)
    skips: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))

    def insights(self) -> Insights:
        failures = [
            Failure(code=code, title=failure_title(code, self.titles.get(code, "")), count=n)
            if code
            else Failure(code="", title=text, count=n)
            for (code, text), n in sorted(self.failures.items())
        ]
        return Insights(
            time_to_sent=self.times["time_to_sent"],
            time_to_delivered=self.times["time_to_delivered"],
            time_to_read=self.times["time_to_read"],
            failures=failures,
            skip_reasons=[
                SkipReason(code=code, reason=reason, count=n)
                for (code, reason), n in sorted(self.skips.items())
            ],
            groups=[
                GroupStatistics(
                    kind=kind,
                    value=value,
                    counters=Counters(**dict(zip(COUNTERS, row, strict=True))),
                    time_to_read=read_times,
                )
                for (kind, value), (row, read_times) in sorted(self.groups.items())
            ],
        )


def insights_oracle(events: Iterable[MessageEvent]) -> dict[str, Insights]:
    """The insights of every campaign with a dispatched message or a skip, by the letter of
    docs/insights.md. Failures are in (code, title) order, skip reasons in (code, reason) order
    and groups in (kind, value) order; the worker may order them otherwise (see
    ``tickstream.simulator.comparison``)."""
    gathered = _gather(events)
    breakdowns: dict[str, _Breakdown] = defaultdict(_Breakdown)
    for message in gathered.messages.values():
        if message.campaign:
            _breakdown(breakdowns[message.campaign], message)
    counted = gathered.counted_skips()
    for key in gathered.skipped:  # a campaign whose skips were all cancelled counts none
        skips = breakdowns[key[0]].skips
        if key in counted:
            skips[counted[key]] += 1
    return {campaign: breakdown.insights() for campaign, breakdown in breakdowns.items()}


def _breakdown(breakdown: _Breakdown, message: _Message) -> None:
    counted = message.counted()
    base = message.dispatched_at()
    buckets: dict[int, int] = {}
    for index, name in STAGES:
        seen = message.first_seen(index)
        # counted in a stage means an ack of that rank or above, so `seen` is known; the base
        # always is for what ingest produces (it stamps every dispatch it receives)
        if counted[index] and seen is not None and base is not None:
            buckets[index] = bucket_of((seen - base).total_seconds())
            breakdown.times[name][buckets[index]] += 1
    if counted[FAILED]:
        code, title = message.failure()
        # a coded failure counts under its code; one with none under its text
        breakdown.failures[(code, "" if code else title[:UNCODED_TITLE_CHARS])] += 1
        if code and title > breakdown.titles.get(code, ""):
            breakdown.titles[code] = title  # the largest title seen for the code
    for group in message.labels():
        row, read_times = breakdown.groups.setdefault(group, ([0] * len(COUNTERS), [0] * BUCKETS))
        _add(row, counted)
        if READ in buckets:
            read_times[buckets[READ]] += 1

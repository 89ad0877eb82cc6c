"""What the pipeline shows for a campaign against what the oracle expects, item by item. Pure.

The oracle's insights are exact when every ack carries its time. Some providers' callbacks carry
none (Twilio, the whatsapp-web.js Node service): ingest stamps them when they arrive, which a
sender only knows to within its request's round trip. So an expectation is a pair of readings of
the same events, every such time at its earliest (``soonest``) and at its latest (``latest``):
then, per duration bucket, the number of messages *within* that bucket's upper bound lies between
the two readings' numbers. With no uncertain time both readings are one, and that bound is
equality of every bucket. Lists are compared by key (a failure's code, a skip's code and reason,
a group's kind and value), never by position: the order a part lists them in is its own business.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import accumulate

from contract.events import Counters, Insights
from contract.insights import BUCKETS, bucket_bounds
from tickstream.simulator.oracle import COUNTERS, Expected

NO_INSIGHTS = Insights(
    time_to_sent=[0] * BUCKETS, time_to_delivered=[0] * BUCKETS, time_to_read=[0] * BUCKETS
)
HISTOGRAMS = ("time_to_sent", "time_to_delivered", "time_to_read")


@dataclass(frozen=True, slots=True)
class ExpectedInsights:
    """A campaign's insights as the oracle expects them: between two readings (module doc)."""

    soonest: Insights
    latest: Insights

    @classmethod
    def exact(cls, insights: Insights) -> ExpectedInsights:
        return cls(insights, insights)


@dataclass(frozen=True, slots=True)
class Difference:
    """One item the pipeline shows otherwise than expected, as text for a table."""

    item: str
    expected: str
    got: str


def counter_differences(expected: Expected, got: Expected | None) -> list[Difference]:
    """Each of the seven counters that differs."""
    if got is None:
        return [Difference("statistics", "a snapshot", "none")]
    return [
        Difference(name, str(want), str(have))
        for name in COUNTERS
        if (want := getattr(expected, name)) != (have := getattr(got, name))
    ]


def insight_differences(expected: ExpectedInsights, got: Insights | None) -> list[Difference]:
    """Every item of the insights outside what the oracle expects: per time bucket, per failure
    reason, per skip reason, per group counter and per group time bucket."""
    have = got or NO_INSIGHTS
    found: list[Difference] = []
    for name in HISTOGRAMS:
        found += _histogram(
            name,
            getattr(expected.soonest, name),
            getattr(expected.latest, name),
            getattr(have, name),
        )
    found += _failures(expected, have)
    found += _skip_reasons(expected.soonest, have)
    found += _groups(expected, have)
    return found


def _histogram(
    name: str, soonest: list[int], latest: list[int], got: list[int]
) -> list[Difference]:
    """Messages within each bucket's upper bound: at least the latest reading's, at most the
    soonest's (equal when those are one)."""
    found = []
    for index, (low, high, have) in enumerate(
        zip(accumulate(latest), accumulate(soonest), accumulate(got), strict=True)
    ):
        if not low <= have <= high:
            upper = bucket_bounds(index)["upper"]
            within = f"< {upper} s" if upper is not None else "in all"
            found.append(Difference(f"{name} {within}", _between(low, high), str(have)))
    return found


def _between(low: int, high: int) -> str:
    return str(low) if low == high else f"{low}–{high}"


def _failures(expected: ExpectedInsights, got: Insights) -> list[Difference]:
    def by_reason(insights: Insights) -> dict[str, str]:
        # a coded failure is its code's; one with no code is its text's (docs/insights.md)
        return {
            failure.code or f'"" {failure.title!r}': f"{failure.count} × {failure.title!r}"
            for failure in insights.failures
        }

    options = (by_reason(expected.soonest), by_reason(expected.latest))
    have = by_reason(got)
    found = []
    for reason in sorted({*options[0], *options[1], *have}):
        wanted = {option.get(reason, "0") for option in options}
        if have.get(reason, "0") not in wanted:
            found.append(
                Difference(f"failures {reason}", " or ".join(sorted(wanted)), have.get(reason, "0"))
            )
    return found


def _skip_reasons(expected: Insights, got: Insights) -> list[Difference]:
    """Skips carry no ack time, so both readings count them alike: each reason exactly."""

    def by_reason(insights: Insights) -> dict[tuple[str, str], int]:
        return {(skip.code, skip.reason): skip.count for skip in insights.skip_reasons}

    want, have = by_reason(expected), by_reason(got)
    found = []
    for code, reason in sorted({*want, *have}):
        wanted, shown = want.get((code, reason), 0), have.get((code, reason), 0)
        if wanted != shown:
            found.append(Difference(f"skips {code!r} {reason!r}", str(wanted), str(shown)))
    return found


def _groups(expected: ExpectedInsights, got: Insights) -> list[Difference]:
    def by_group(insights: Insights) -> dict[tuple[str, str], tuple[Counters, list[int]]]:
        return {(g.kind, g.value): (g.counters, g.time_to_read) for g in insights.groups}

    soonest, latest, have = by_group(expected.soonest), by_group(expected.latest), by_group(got)
    none = (Counters(), [0] * BUCKETS)
    found: list[Difference] = []
    for kind, value in sorted({*soonest, *latest, *have}):
        early, late, seen = (part.get((kind, value), none) for part in (soonest, latest, have))
        for name in COUNTERS:
            wanted = {getattr(early[0], name), getattr(late[0], name)}
            count = getattr(seen[0], name)
            if count not in wanted:
                text = " or ".join(str(n) for n in sorted(wanted))
                found.append(Difference(f"{kind} {value!r} {name}", text, str(count)))
        found += _histogram(f"{kind} {value!r} time_to_read", early[1], late[1], seen[1])
    return found

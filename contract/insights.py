"""The fixed buckets of the time distributions, percentiles over them, and the titles of the
providers' common error codes (docs/insights.md). Pure.

The buckets are the same for every campaign and never change, so histograms of different
campaigns, windows and variants add up bucket by bucket.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from typing import TypedDict

# Upper bounds (exclusive) of the buckets, in seconds: < 1 s, 1–2 s, 2–5 s, …, 12–24 h, and a
# last bucket for a day or more. Roughly log-spaced (1-2-5 steps up to a minute, then the
# durations people think in).
BOUNDS_SECONDS: tuple[int, ...] = (
    1,
    2,
    5,
    10,
    30,
    60,
    120,
    300,
    600,
    1800,
    3600,
    7200,
    21600,
    43200,
    86400,
)
BUCKETS = len(BOUNDS_SECONDS) + 1
PERCENTILES: tuple[tuple[str, float], ...] = (("p50", 0.5), ("p90", 0.9), ("p99", 0.99))

# Titles for error codes whose report carries none (Twilio's callbacks never do). A provider's
# own title wins over these.
KNOWN_FAILURE_TITLES: dict[str, str] = {
    # Meta Cloud API
    "130429": "Rate limit hit",
    "130472": "User's number is part of an experiment",
    "131000": "Something went wrong",
    "131026": "Message undeliverable",
    "131047": "Re-engagement message: more than 24 hours since the customer last replied",
    "131049": "Not delivered to maintain healthy ecosystem engagement (marketing limit)",
    "131050": "The user stopped marketing messages",
    "131051": "Unsupported message type",
    "131053": "Media upload error",
    # Twilio
    "30003": "Unreachable destination handset",
    "30005": "Unknown destination handset",
    "30008": "Unknown error",
    "63003": "Channel could not find the To address",
    "63016": "Outside the allowed window: freeform message not sent (use a template)",
    "63024": "Invalid message recipient",
}


# A code-less failure (the webjs Node service reports only a text) is told apart by its text,
# cut so that texts with per-message details cannot make a campaign's breakdown grow without bound.
UNCODED_TITLE_CHARS = 80


def rate(numerator: int, divisor: int) -> float:
    """A percentage with two decimals (docs/contract.md); 0 when there is nothing to divide by."""
    return round(numerator * 100 / divisor, 2) if divisor else 0.0


def bucket_of(seconds: float) -> int:
    """The bucket of a duration; a negative one (an ack stamped before its dispatch, clocks
    apart) counts as under a second."""
    return bisect_right(BOUNDS_SECONDS, max(0.0, seconds))


class Bounds(TypedDict):
    lower: int
    upper: int | None  # None: the last bucket, a day or more


def bucket_bounds(index: int) -> Bounds:
    lower = 0 if index == 0 else BOUNDS_SECONDS[index - 1]
    upper = BOUNDS_SECONDS[index] if index < len(BOUNDS_SECONDS) else None
    return {"lower": lower, "upper": upper}


def percentile_bucket(buckets: list[int], q: float) -> int | None:
    """The bucket holding the ``q``-quantile (the ceil(q·n)-th smallest duration); None when
    the histogram is empty."""
    total = sum(buckets)
    if total <= 0:
        return None
    rank = max(1, math.ceil(q * total))
    seen = 0
    for index, count in enumerate(buckets):
        seen += count
        if seen >= rank:
            return index
    return len(buckets) - 1


def percentiles(buckets: list[int]) -> dict[str, Bounds | None]:
    """p50, p90 and p99 as the bounds of the bucket each falls in: exact to the bucket."""
    result: dict[str, Bounds | None] = {}
    for name, q in PERCENTILES:
        index = percentile_bucket(buckets, q)
        result[name] = None if index is None else bucket_bounds(index)
    return result


def failure_title(code: str, title: str) -> str:
    """What a person reads for a failure: the provider's title, else the known one."""
    return title or KNOWN_FAILURE_TITLES.get(code, "")

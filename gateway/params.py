"""Query parameters of the REST API, checked without I/O so that bad input gets a 400 that
names the parameter."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from multidict import MultiMapping

from contract.status import STATUSES
from gateway.db import storable

DEFAULT_SERIES_SPAN = timedelta(hours=1)
MAX_SERIES_POINTS = 10_000
# Series times stay well inside what both Python and PostgreSQL represent, so that no bound,
# default or bucket edge computed from them can overflow.
EARLIEST_TIME = datetime(1970, 1, 1, tzinfo=UTC)
LATEST_TIME = datetime(9000, 1, 1, tzinfo=UTC)
MAX_STEP = timedelta(days=366).total_seconds()
DEFAULT_PAGE = 50
MAX_PAGE = 1000
# What ``status`` may filter on: the message statuses and skipped recipients ("attempted" skip
# rows are superseded by the recipient's message row and never listed).
RECIPIENT_STATUSES = tuple(dict.fromkeys((*STATUSES, "skipped")))
SERIES_PARAMETERS = ("from", "to", "step")
RECIPIENTS_PARAMETERS = ("status", "after", "limit")
CSV_PARAMETERS = ("status", "token")


class ParamError(ValueError):
    """A query parameter is invalid; ``param`` names it."""

    def __init__(self, param: str, message: str) -> None:
        super().__init__(f"{param}: {message}")
        self.param = param


@dataclass(frozen=True, slots=True)
class SeriesQuery:
    start: datetime
    end: datetime
    step: float


@dataclass(frozen=True, slots=True)
class RecipientsQuery:
    status: str | None
    after: str | None
    limit: int


def single_values(query: MultiMapping[str], known: Collection[str]) -> dict[str, str]:
    """The query as one value per name. A name given twice is ambiguous, and one the endpoint
    does not know is most likely a misspelt one (``statsu=failed`` would silently list
    everything): both are refused."""
    for name in query:
        if name not in known:
            raise ParamError(
                name or '""', f"unknown parameter; this endpoint takes {', '.join(known)}"
            )
        if len(query.getall(name)) > 1:
            raise ParamError(name, "given more than once")
    return dict(query)


def parse_time(param: str, raw: str) -> datetime:
    """An ISO-8601 time; one without an offset is taken as UTC."""
    try:
        value = datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        within = EARLIEST_TIME <= value <= LATEST_TIME
    except (ValueError, OverflowError) as exc:  # overflow: an offset pushing it out of range
        raise ParamError(param, f"not an ISO-8601 time: {raw!r}") from exc
    if not within:
        raise ParamError(param, f"must lie between {EARLIEST_TIME.year} and {LATEST_TIME.year}")
    return value


def series_query(query: Mapping[str, str], now: datetime, window_seconds: float) -> SeriesQuery:
    """``to`` defaults to now, ``from`` to an hour before ``to``, ``step`` to one window."""
    end = parse_time("to", query["to"]) if query.get("to") else now
    start = parse_time("from", query["from"]) if query.get("from") else end - DEFAULT_SERIES_SPAN
    if start >= end:
        raise ParamError("from", "must be earlier than to")
    step = window_seconds
    if query.get("step"):
        try:
            step = float(query["step"])
        except ValueError as exc:
            raise ParamError("step", f"not a number of seconds: {query['step']!r}") from exc
        if not step >= window_seconds:
            raise ParamError("step", f"must be at least the window length ({window_seconds} s)")
        if not step <= MAX_STEP:  # also refuses inf and nan
            raise ParamError("step", f"must be at most {MAX_STEP:.0f} s (366 days)")
    if (end - start).total_seconds() / step > MAX_SERIES_POINTS:
        raise ParamError("step", f"gives more than {MAX_SERIES_POINTS} points; use a coarser step")
    return SeriesQuery(start, end, step)


def recipients_query(query: Mapping[str, str]) -> RecipientsQuery:
    status = query.get("status") or None
    if status is not None and status not in RECIPIENT_STATUSES:
        raise ParamError("status", f"must be one of {', '.join(RECIPIENT_STATUSES)}")
    limit = DEFAULT_PAGE
    if query.get("limit"):
        try:
            limit = int(query["limit"])
        except ValueError as exc:
            raise ParamError("limit", "not an integer") from exc
        if not 1 <= limit <= MAX_PAGE:
            raise ParamError("limit", f"must be between 1 and {MAX_PAGE}")
    after = query.get("after") or None
    if after is not None and not storable(after):
        raise ParamError("after", "not a message id (NUL or undecodable characters)")
    return RecipientsQuery(status, after, limit)


def csv_status(query: Mapping[str, str]) -> str | None:
    return recipients_query({"status": query.get("status", "")}).status

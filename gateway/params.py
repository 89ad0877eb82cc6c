"""Query parameters of the REST API, checked without I/O so that bad input gets a 400 that
names the parameter."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from contract.status import STATUSES

DEFAULT_SERIES_SPAN = timedelta(hours=1)
MAX_SERIES_POINTS = 10_000
DEFAULT_PAGE = 50
MAX_PAGE = 1000
# What ``status`` may filter on: the message statuses and skipped recipients ("attempted" skip
# rows are superseded by the recipient's message row and never listed).
RECIPIENT_STATUSES = tuple(dict.fromkeys((*STATUSES, "skipped")))


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


def parse_time(param: str, raw: str) -> datetime:
    """An ISO-8601 time; one without an offset is taken as UTC."""
    try:
        value = datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise ParamError(param, f"not an ISO-8601 time: {raw!r}") from exc
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


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
    return RecipientsQuery(status, query.get("after") or None, limit)


def csv_status(query: Mapping[str, str]) -> str | None:
    return recipients_query({"status": query.get("status", "")}).status

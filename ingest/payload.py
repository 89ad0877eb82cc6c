"""What every payload parser shares: decoding with errors that name the field, the canonical
ack builder, and event-time parsing.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any, TypeVar

import msgspec

from contract.events import AckEvent, idempotency_key
from contract.status import StatusName, UnknownStatus
from ingest.limits import MAX_DISPLAY_CHARS, MAX_REASON_CHARS, MAX_SHORT_CHARS, clip

T = TypeVar("T")

_AT_FIELD = re.compile(r" - at `(?P<field>[^`]*)`$")


class BadInput(Exception):
    """An authenticated body that cannot be understood: 400 (not JSON) or 422 (wrong content).

    ``field`` is a JSON path (``$.entry[0].changes[0].value.statuses[1].status``) or ``$``.
    Both are cut to ``MAX_REASON_CHARS``: a reason may quote the value it refuses (an unknown
    status), and the value may be a megabyte long.
    """

    def __init__(self, reason: str, field: str = "$", status: int = 422) -> None:
        self.reason = clip(reason, MAX_REASON_CHARS)
        super().__init__(self.reason)
        self.field = clip(field, MAX_REASON_CHARS)
        self.status = status


def decode(body: bytes, decoder: msgspec.json.Decoder[T], prefix: str = "", at: str = "$") -> T:
    """Decode and validate; a failure becomes :class:`BadInput` naming the offending field.

    ``at`` is where ``body`` sits in the request's body (``$.data`` for a provider's nested
    part decoded on its own), so that the field named is a path in what the sender sent.
    """
    try:
        return decoder.decode(body)
    except msgspec.ValidationError as exc:
        raise from_validation(exc, prefix, at) from None
    except msgspec.DecodeError as exc:
        raise BadInput(f"{prefix}body is not valid JSON: {exc}", at, 400) from None
    except RecursionError:
        raise nested_too_deeply(prefix, at) from None


def nested_too_deeply(prefix: str = "", at: str = "$") -> BadInput:
    """msgspec reads nested arrays and objects recursively, up to the interpreter's recursion
    limit (about 1,000 levels); a body nested deeper cannot be read (400). No sender's body
    nests more than ten."""
    return BadInput(f"{prefix}JSON nested too deeply to be read", at, 400)


def from_validation(exc: msgspec.ValidationError, prefix: str = "", at: str = "$") -> BadInput:
    message = str(exc)
    match = _AT_FIELD.search(message)
    field = at + match.group("field").removeprefix("$") if match else at
    return BadInput(prefix + message, field, 422)


def identifier(value: str, field: str) -> str:
    """``value`` unless it is longer than ``MAX_SHORT_CHARS`` (:class:`BadInput` naming
    ``field``): for text that no msgspec type bounds, such as a form's fields."""
    if len(value) > MAX_SHORT_CHARS:
        raise BadInput(f"longer than {MAX_SHORT_CHARS} characters", field)
    return value


def absent() -> msgspec.Raw:
    """Default factory of ``msgspec.Raw`` fields (``Raw | None`` cannot decode an object)."""
    return msgspec.Raw(b"")


def present(raw: msgspec.Raw) -> bool:
    """Whether a ``Raw`` field was given a value other than ``null``."""
    return bytes(raw) not in (b"", b"null")


def mapped(field: str, mapping: Any, value: Any) -> StatusName:
    """A provider status through its mapping function; an unknown value names its field."""
    try:
        status: StatusName = mapping(value)
    except UnknownStatus as exc:
        raise BadInput(str(exc), field) from None
    return status


def make_ack(
    provider: str,
    message_id: str,
    status: StatusName,
    received_at: datetime,
    *,
    field: str,
    participant: str = "",
    recipient: str = "",
    occurred_at: datetime | None = None,
    message_created_at: datetime | None = None,
    error_code: str = "",
    error_title: str = "",
) -> AckEvent:
    """The canonical event with its idempotency key; an empty message id names its field.

    The error code and title are display text: cut to ``MAX_DISPLAY_CHARS`` rather than
    refused, so that a failed ack is not lost for its long error message.
    """
    if not message_id or len(message_id) > MAX_SHORT_CHARS:
        raise BadInput(f"message id must be 1 to {MAX_SHORT_CHARS} characters", field)
    return AckEvent(
        message_id=message_id,
        status=status,
        received_at=received_at,
        provider=provider,
        participant=participant,
        recipient=recipient,
        occurred_at=occurred_at,
        message_created_at=message_created_at,
        error_code=clip(error_code, MAX_DISPLAY_CHARS),
        error_title=clip(error_title, MAX_DISPLAY_CHARS),
        idempotency_key=idempotency_key(provider, message_id, status, participant),
    )


def event_time(value: str | float | None, field: str) -> datetime | None:
    """A provider's event time: Unix seconds or milliseconds (number or digits) or ISO 8601.

    A naive ISO time is taken as UTC, which is what every provider here means by it.
    """
    if value is None or value == "":
        return None
    if isinstance(value, str) and not _is_number(value):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise BadInput(f"not a time: {value!r}", field) from None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    seconds = float(value)
    if seconds > 1e11:
        seconds /= 1000.0
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        raise BadInput(f"time out of range: {value!r}", field) from None


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True

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

T = TypeVar("T")

_AT_FIELD = re.compile(r" - at `(?P<field>[^`]*)`$")


class BadInput(Exception):
    """An authenticated body that cannot be understood: 400 (not JSON) or 422 (wrong content).

    ``field`` is a JSON path (``$.entry[0].changes[0].value.statuses[1].status``) or ``$``.
    """

    def __init__(self, reason: str, field: str = "$", status: int = 422) -> None:
        super().__init__(reason)
        self.reason = reason
        self.field = field
        self.status = status


def decode(body: bytes, decoder: msgspec.json.Decoder[T], prefix: str = "") -> T:
    """Decode and validate; a failure becomes :class:`BadInput` naming the offending field."""
    try:
        return decoder.decode(body)
    except msgspec.ValidationError as exc:
        raise from_validation(exc, prefix) from None
    except msgspec.DecodeError as exc:
        raise BadInput(f"{prefix}body is not valid JSON: {exc}", "$", 400) from None


def from_validation(exc: msgspec.ValidationError, prefix: str = "") -> BadInput:
    message = str(exc)
    match = _AT_FIELD.search(message)
    field = match.group("field") if match else "$"
    return BadInput(prefix + message, field, 422)


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
    """The canonical event with its idempotency key; an empty message id names its field."""
    if not message_id or len(message_id) > 512:
        raise BadInput("message id must be 1 to 512 characters", field)
    return AckEvent(
        message_id=message_id,
        status=status,
        received_at=received_at,
        provider=provider,
        participant=participant,
        recipient=recipient,
        occurred_at=occurred_at,
        message_created_at=message_created_at,
        error_code=error_code,
        error_title=error_title,
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

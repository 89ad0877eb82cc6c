"""The original app's Node (whatsapp-web.js) service.

Two shapes arrive at ``/webhooks/webjs``:

* the Node service's own ``{"event": ..., "data": {...}}`` with events ``message_status_updated``,
  ``message_delivered`` and ``message_read``. ``data.ack_level`` is the true whatsapp-web.js
  ``MessageAck`` integer; ``data.status`` is the service's string, shifted by one
  (1→"pending", 2→"sent", …). ``ack_level`` wins; the string is read with its corrected
  meaning only when ``ack_level`` is absent.
* whatsapp-web.js's raw ``message_ack`` callback arguments ``{"message": {...}, "ack": n}``, bare
  or wrapped as ``{"event": "message_ack", "data": {...}}``. ``message.timestamp`` is when the
  message was created, not the ack, so it is not an event time.

Other event names are acknowledged and ignored (the service may be subscribed to more).
"""

from __future__ import annotations

from datetime import datetime

import msgspec

from contract.events import AckEvent
from contract.status import webjs_ack_status, webjs_shifted_status
from ingest.payload import BadInput, absent, decode, event_time, make_ack, mapped, present

PROVIDER = "webjs"
STATUS_EVENTS = frozenset({"message_status_updated", "message_delivered", "message_read"})


class WebjsMessageId(msgspec.Struct, frozen=True):
    """whatsapp-web.js ``MessageId``; only ``_serialized`` identifies the message."""

    _serialized: str = msgspec.field(name="_serialized")
    participant: str | dict[str, str] | None = None


class WebjsRawMessage(msgspec.Struct, frozen=True):
    """The ``message`` argument of whatsapp-web.js's ``message_ack`` event (fields we read)."""

    id: WebjsMessageId
    to: str = ""
    author: str | None = None


class WebjsRawAck(msgspec.Struct, frozen=True):
    """``client.on('message_ack', (message, ack) => …)`` posted as JSON."""

    message: WebjsRawMessage
    ack: int


class WebjsStatusData(msgspec.Struct, frozen=True):
    """``data`` of the Node service's status events.

    The message id may be called ``message_id``, ``messageId`` or ``id`` (the service's versions
    differ); the recipient ``to``, ``recipient`` or ``phone``.
    """

    message_id: str = ""
    messageId: str = ""
    id: str = ""
    status: str | None = None
    ack_level: int | None = None
    timestamp: str | float | None = None
    to: str = ""
    recipient: str = ""
    phone: str = ""
    participant: str = ""
    error: str = ""


class WebjsEnvelope(msgspec.Struct, frozen=True):
    event: str = ""
    data: msgspec.Raw = msgspec.field(default_factory=absent)
    message: msgspec.Raw = msgspec.field(default_factory=absent)
    ack: int | None = None


_envelope = msgspec.json.Decoder(WebjsEnvelope)
_status_data = msgspec.json.Decoder(WebjsStatusData)
_raw_ack = msgspec.json.Decoder(WebjsRawAck)


def parse(body: bytes, received_at: datetime) -> list[AckEvent]:
    envelope = decode(body, _envelope)
    if present(envelope.message):
        return [_from_raw(decode(body, _raw_ack), received_at, "$")]
    if envelope.event == "message_ack":
        if not present(envelope.data):
            raise BadInput("message_ack event without data", "$.data")
        raw = decode(envelope.data, _raw_ack, prefix="data: ")
        return [_from_raw(raw, received_at, "$.data")]
    if envelope.event not in STATUS_EVENTS:
        if not envelope.event:
            raise BadInput("neither an event name nor a raw message_ack payload", "$.event")
        return []
    if not present(envelope.data):
        raise BadInput(f"{envelope.event} event without data", "$.data")
    return [_from_status(decode(envelope.data, _status_data, prefix="data: "), received_at)]


def _from_status(data: WebjsStatusData, received_at: datetime) -> AckEvent:
    if data.ack_level is not None:
        status = mapped("$.data.ack_level", webjs_ack_status, data.ack_level)
    elif data.status is not None:
        status = mapped("$.data.status", webjs_shifted_status, data.status)
    else:
        raise BadInput("neither ack_level nor status given", "$.data.ack_level")
    return make_ack(
        PROVIDER,
        data.message_id or data.messageId or data.id,
        status,
        received_at,
        field="$.data.message_id",
        participant=data.participant,
        recipient=data.to or data.recipient or data.phone,
        occurred_at=event_time(data.timestamp, "$.data.timestamp"),
        error_title=data.error,
    )


def _from_raw(raw: WebjsRawAck, received_at: datetime, at: str) -> AckEvent:
    participant = raw.message.id.participant
    if isinstance(participant, dict):
        participant = str(participant.get("_serialized", ""))
    return make_ack(
        PROVIDER,
        raw.message.id._serialized,
        mapped(f"{at}.ack", webjs_ack_status, raw.ack),
        received_at,
        field=f"{at}.message.id._serialized",
        participant=participant or raw.message.author or "",
        recipient=raw.message.to,
    )

"""The original app's Node (whatsapp-web.js) service (docs/ingest.md, "The whatsapp-web.js Node
service").

The service posts every event it has to one URL as ``{"event": ..., "data": {...}}``. Three are
acks:

* ``message_status_updated``: ``data.ack_level`` is the true whatsapp-web.js ``MessageAck``
  integer; ``data.status`` is the service's string, shifted by one (1→"pending", 2→"sent", …).
  ``ack_level`` wins; the string is read with its corrected meaning only when the level is absent.
* ``message_delivered`` (posted on ack 3) and ``message_read`` (on ack 4) carry no level: they
  count as delivered and read, a lower bound of what happened that the worker's per-message
  state merges with the ``message_status_updated`` of the same ack.

``data.timestamp`` of these events is ``message.timestamp``, when the message was created, so it
becomes the event's ``message_created_at`` and never its ``occurred_at``: the ack happened when
ingest received it. whatsapp-web.js's raw ``message_ack`` callback arguments
``{"message": {...}, "ack": n}`` are read too, bare or as ``{"event": "message_ack", "data": ...}``.

Every other event (QR codes, received messages with their media, typing, sessions) is
acknowledged and ignored; the handler drops them without decoding (``ingest/webjs_body.py``).
"""

from __future__ import annotations

from datetime import datetime

import msgspec

from contract.events import AckEvent
from contract.status import StatusName, webjs_ack_status, webjs_shifted_status
from ingest.limits import Short
from ingest.payload import BadInput, absent, decode, event_time, make_ack, mapped, present

PROVIDER = "webjs"
# the statuses of the events that carry no ack level
NAMED_STATUS: dict[str, StatusName] = {"message_delivered": "delivered", "message_read": "read"}
STATUS_EVENTS = frozenset({"message_status_updated", *NAMED_STATUS})
ACK_EVENTS = frozenset({*STATUS_EVENTS, "message_ack"})
# the service's events that are not acks, by the names the ignored-events metric uses (any other
# name is counted as "other", so that a sender cannot grow the metric without bound)
OTHER_EVENTS = frozenset(
    {
        "qr_code_generated",
        "message_received",
        "message_sent",
        "typing_indicator",
        "chat_state_updated",
        "session_ready",
        "session_authenticated",
        "session_disconnected",
        "session_error",
    }
)


class WebjsWid(msgspec.Struct, frozen=True):
    """A whatsapp-web.js contact id (``{server, user, _serialized}``); ``_serialized`` names it."""

    _serialized: Short = msgspec.field(name="_serialized", default="")


class WebjsMessageId(msgspec.Struct, frozen=True):
    """whatsapp-web.js ``MessageId``; only ``_serialized`` identifies the message."""

    _serialized: str = msgspec.field(name="_serialized")
    participant: Short | WebjsWid | None = None


class WebjsRawMessage(msgspec.Struct, frozen=True):
    """The ``message`` argument of whatsapp-web.js's ``message_ack`` event (fields we read)."""

    id: WebjsMessageId
    to: Short = ""
    author: Short | None = None
    timestamp: int | float | None = None


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
    to: Short = ""
    recipient: Short = ""
    phone: Short = ""
    participant: Short = ""
    error: str = ""  # display text: cut by make_ack


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
    if envelope.event and envelope.event not in ACK_EVENTS:
        return []
    if not envelope.event:
        if present(envelope.message):
            return [_from_raw(decode(body, _raw_ack), received_at, "$")]
        raise BadInput("neither an event name nor a raw message_ack payload", "$.event")
    if not present(envelope.data):
        raise BadInput(f"{envelope.event} event without data", "$.data")
    if envelope.event == "message_ack":
        raw = decode(envelope.data, _raw_ack, prefix="data: ", at="$.data")
        return [_from_raw(raw, received_at, "$.data")]
    data = decode(envelope.data, _status_data, prefix="data: ", at="$.data")
    return [_from_status(envelope.event, data, received_at)]


def _from_status(event: str, data: WebjsStatusData, received_at: datetime) -> AckEvent:
    if data.ack_level is not None:
        status = mapped("$.data.ack_level", webjs_ack_status, data.ack_level)
    elif event in NAMED_STATUS:
        status = NAMED_STATUS[event]
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
        message_created_at=event_time(data.timestamp, "$.data.timestamp"),
        error_title=data.error,
    )


def _from_raw(raw: WebjsRawAck, received_at: datetime, at: str) -> AckEvent:
    participant = raw.message.id.participant
    if isinstance(participant, WebjsWid):
        participant = participant._serialized
    return make_ack(
        PROVIDER,
        raw.message.id._serialized,
        mapped(f"{at}.ack", webjs_ack_status, raw.ack),
        received_at,
        field=f"{at}.message.id._serialized",
        participant=participant or raw.message.author or "",
        recipient=raw.message.to,
        message_created_at=event_time(raw.message.timestamp, f"{at}.message.timestamp"),
    )

"""WAHA (WhatsApp HTTP API) ``message.ack`` and ``message.ack.group`` webhooks.

``payload.ack`` is whatsapp-web.js's ``MessageAck`` integer (WAHA keeps it for every engine);
``payload.ackName`` is used only when ``ack`` is missing. In a group ack, ``payload.participant``
is the member who received or read the message. The envelope's ``timestamp`` (milliseconds) is
when WAHA saw the ack. Other events are acknowledged and ignored.
"""

from __future__ import annotations

from datetime import datetime

import msgspec

from contract.events import AckEvent
from contract.status import webjs_ack_name_status, webjs_ack_status
from ingest.limits import Short
from ingest.payload import BadInput, absent, decode, event_time, make_ack, mapped, present

PROVIDER = "waha"
ACK_EVENTS = frozenset({"message.ack", "message.ack.group"})


class WahaAckPayload(msgspec.Struct, frozen=True):
    id: str
    ack: int | None = None
    ackName: str | None = None
    to: Short | None = None
    participant: Short | None = None
    fromMe: bool = True


class WahaEnvelope(msgspec.Struct, frozen=True):
    event: str
    session: str = ""
    timestamp: float | None = None
    payload: msgspec.Raw = msgspec.field(default_factory=absent)


_envelope = msgspec.json.Decoder(WahaEnvelope)
_payload = msgspec.json.Decoder(WahaAckPayload)


def parse(body: bytes, received_at: datetime) -> list[AckEvent]:
    envelope = decode(body, _envelope)
    if envelope.event not in ACK_EVENTS:
        return []
    if not present(envelope.payload):
        raise BadInput(f"{envelope.event} without payload", "$.payload")
    payload = decode(envelope.payload, _payload, prefix="payload: ", at="$.payload")
    if payload.ack is not None:
        status = mapped("$.payload.ack", webjs_ack_status, payload.ack)
    elif payload.ackName is not None:
        status = mapped("$.payload.ackName", webjs_ack_name_status, payload.ackName)
    else:
        raise BadInput("neither ack nor ackName given", "$.payload.ack")
    return [
        make_ack(
            PROVIDER,
            payload.id,
            status,
            received_at,
            field="$.payload.id",
            participant=payload.participant or "",
            recipient=payload.to or "",
            occurred_at=event_time(envelope.timestamp, "$.timestamp"),
        )
    ]

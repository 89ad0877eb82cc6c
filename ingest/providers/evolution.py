"""Evolution API ``messages.update`` webhooks.

``data`` is one update or a list of them. Evolution v2 sends the WhatsApp message id as
``keyId`` (its ``messageId`` is Evolution's own database id); v1 and some integrations send
``key.id``. The status comes in either vocabulary (Baileys' ``SERVER_ACK``/``DELIVERY_ACK`` or
``SENT``/``DELIVERED``), as ``status`` or ``update.status``. ``DELETED`` says nothing about
delivery and is skipped. The envelope's ``date_time`` is when Evolution emitted the update.
Other events are acknowledged and ignored.
"""

from __future__ import annotations

from datetime import datetime

import msgspec

from contract.events import AckEvent
from contract.status import EVOLUTION_IGNORED, evolution_status
from ingest.limits import Short
from ingest.payload import BadInput, decode, event_time, make_ack, mapped

PROVIDER = "evolution"
UPDATE_EVENTS = frozenset({"messages.update", "MESSAGES_UPDATE"})


class EvolutionKey(msgspec.Struct, frozen=True):
    id: str = ""
    remoteJid: Short = ""
    participant: Short | None = None


class EvolutionUpdate(msgspec.Struct, frozen=True):
    status: str | None = None


class EvolutionMessageUpdate(msgspec.Struct, frozen=True):
    keyId: str = ""
    messageId: str = ""
    remoteJid: Short = ""
    participant: Short | None = None
    status: str | None = None
    key: EvolutionKey | None = None
    update: EvolutionUpdate | None = None


class EvolutionEnvelope(msgspec.Struct, frozen=True):
    event: str
    instance: str = ""
    data: EvolutionMessageUpdate | list[EvolutionMessageUpdate] | None = None
    date_time: str | None = None


_envelope = msgspec.json.Decoder(EvolutionEnvelope)


def parse(body: bytes, received_at: datetime) -> list[AckEvent]:
    envelope = decode(body, _envelope)
    if envelope.event not in UPDATE_EVENTS:
        return []
    if envelope.data is None:
        raise BadInput(f"{envelope.event} without data", "$.data")
    occurred_at = event_time(envelope.date_time, "$.date_time")
    if isinstance(envelope.data, list):
        items = [(f"$.data[{i}]", item) for i, item in enumerate(envelope.data)]
    else:
        items = [("$.data", envelope.data)]
    events = []
    for at, item in items:
        event = _event(item, at, received_at, occurred_at)
        if event is not None:
            events.append(event)
    return events


def _event(
    item: EvolutionMessageUpdate, at: str, received_at: datetime, occurred_at: datetime | None
) -> AckEvent | None:
    raw_status = (
        item.status if item.status is not None else (item.update or EvolutionUpdate()).status
    )
    if raw_status is None:
        raise BadInput("no status", f"{at}.status")
    if raw_status.upper() in EVOLUTION_IGNORED:
        return None
    key = item.key or EvolutionKey()
    return make_ack(
        PROVIDER,
        item.keyId or key.id or item.messageId,
        mapped(f"{at}.status", evolution_status, raw_status),
        received_at,
        field=f"{at}.keyId",
        participant=item.participant or key.participant or "",
        recipient=item.remoteJid or key.remoteJid,
        occurred_at=occurred_at,
    )

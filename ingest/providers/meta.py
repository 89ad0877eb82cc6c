"""Meta WhatsApp Cloud API webhooks: every status of every change of every entry.

One delivery may carry statuses of many messages (and incoming messages, which are not ours to
count and are skipped). ``timestamp`` (Unix seconds, as a string) is when the status happened;
``errors[0]`` of a failed status gives the error code and title.
"""

from __future__ import annotations

from datetime import datetime

import msgspec

from contract.events import AckEvent
from contract.status import meta_status
from ingest.limits import Short
from ingest.payload import decode, event_time, make_ack, mapped

PROVIDER = "meta"


class MetaError(msgspec.Struct, frozen=True):
    """Display text only, cut by make_ack."""

    code: int | str | None = None
    title: str = ""
    message: str = ""


class MetaStatus(msgspec.Struct, frozen=True):
    id: str
    status: str
    timestamp: str | int | None = None
    recipient_id: Short = ""
    errors: list[MetaError] = []


class MetaValue(msgspec.Struct, frozen=True):
    messaging_product: str = ""
    statuses: list[MetaStatus] = []


class MetaChange(msgspec.Struct, frozen=True):
    value: MetaValue
    field: str = ""


class MetaEntry(msgspec.Struct, frozen=True):
    id: str = ""
    changes: list[MetaChange] = []


class MetaNotification(msgspec.Struct, frozen=True):
    entry: list[MetaEntry]
    object: str = ""


_notification = msgspec.json.Decoder(MetaNotification)


def parse(body: bytes, received_at: datetime) -> list[AckEvent]:
    notification = decode(body, _notification)
    events = []
    for e, entry in enumerate(notification.entry):
        for c, change in enumerate(entry.changes):
            for s, status in enumerate(change.value.statuses):
                at = f"$.entry[{e}].changes[{c}].value.statuses[{s}]"
                error = status.errors[0] if status.errors else MetaError()
                events.append(
                    make_ack(
                        PROVIDER,
                        status.id,
                        mapped(f"{at}.status", meta_status, status.status),
                        received_at,
                        field=f"{at}.id",
                        recipient=status.recipient_id,
                        occurred_at=event_time(status.timestamp, f"{at}.timestamp"),
                        error_code="" if error.code is None else str(error.code),
                        error_title=error.title or error.message,
                    )
                )
    return events

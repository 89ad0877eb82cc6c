"""The canonical API's bodies (``/v1/events``, ``/v1/dispatches``, ``/v1/skips``,
``/v1/campaigns``).

Each accepts one JSON object, a JSON array of them, or NDJSON (one object per line), because
senders batch differently and NDJSON streams from files without building a big array.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Generic, TypeVar

import msgspec

from contract.events import (
    AckEvent,
    AwareDatetime,
    CampaignRegistration,
    Dispatch,
    NonEmpty,
    Skip,
    Tags,
    Template,
    Variant,
    idempotency_key,
    skip_message_id,
)
from contract.status import StatusName
from ingest.limits import MAX_TOTAL_RECIPIENTS, Short
from ingest.payload import BadInput, decode, from_validation, nested_too_deeply

T = TypeVar("T")


class EventIn(msgspec.Struct, frozen=True, kw_only=True):
    """One canonical ack event as a sender posts it; ingest adds ``received_at`` and the key."""

    message_id: NonEmpty
    status: StatusName
    provider: Annotated[str, msgspec.Meta(min_length=1, max_length=64)] = "api"
    participant: Short = ""
    recipient: Short = ""
    occurred_at: AwareDatetime | None = None
    error_code: Short = ""
    error_title: Short = ""


class DispatchIn(msgspec.Struct, frozen=True, kw_only=True):
    """A message the sender dispatched for a campaign. ``template``, ``variant`` and ``tags``
    label it for the campaign's breakdowns (docs/insights.md); a longer label or a sixth tag is
    refused (422 naming the field)."""

    message_id: NonEmpty
    campaign_id: NonEmpty
    workspace_id: NonEmpty
    recipient: Short = ""
    dispatched_at: AwareDatetime | None = None
    template: Template = ""
    variant: Variant = ""
    tags: Tags = []


class SkipIn(msgspec.Struct, frozen=True, kw_only=True):
    """An audience member the sender will not attempt, and why (no WhatsApp account, opted out…).

    The lengths keep ``skip:{campaign_id}:{recipient}``, the skip's message id, within the 512
    characters every message id may have.
    """

    campaign_id: Annotated[str, msgspec.Meta(min_length=1, max_length=250)]
    workspace_id: NonEmpty
    recipient: Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
    reason_code: Short = ""
    reason: Short = ""
    occurred_at: AwareDatetime | None = None


class CampaignIn(msgspec.Struct, frozen=True, kw_only=True):
    """A campaign registered or updated by the sender."""

    campaign_id: NonEmpty
    workspace_id: NonEmpty
    name: Short = ""
    # JSON (and JSON Schema) call 12.0 an integer too; a fraction is refused in _campaign.
    total_recipients: Annotated[
        Annotated[int, msgspec.Meta(ge=0, le=MAX_TOTAL_RECIPIENTS)]
        | Annotated[float, msgspec.Meta(ge=0, le=MAX_TOTAL_RECIPIENTS)],
        msgspec.Meta(
            extra_json_schema={
                "type": "integer",
                "minimum": 0,
                "maximum": MAX_TOTAL_RECIPIENTS,
            }
        ),
    ] = 0
    uuid: Short = ""


class _Many(Generic[T]):
    """Decoders of one type, as a single object and as an array."""

    def __init__(self, kind: type[T]) -> None:
        self.one = msgspec.json.Decoder(kind)
        self.many = msgspec.json.Decoder(list[kind])  # type: ignore[valid-type]


def _decode_many(body: bytes, decoders: _Many[T], ndjson: bool) -> list[T]:
    text = body.lstrip()
    if not text:
        raise BadInput("body is empty", "$", 400)
    if text[:1] == b"[" and not ndjson:
        items = decode(body, decoders.many)
        if not items:
            raise BadInput("array is empty", "$")
        return items
    if not ndjson:
        try:
            return [decoders.one.decode(body)]
        except msgspec.ValidationError as exc:
            raise from_validation(exc) from None
        except RecursionError:
            raise nested_too_deeply() from None
        except msgspec.DecodeError:
            pass  # more than one JSON value: read it as NDJSON below
    items = []
    for number, line in enumerate(body.splitlines(), start=1):
        if line.strip():
            items.append(decode(line, decoders.one, prefix=f"line {number}: "))
    if not items:
        raise BadInput("body holds no JSON object", "$", 400)
    return items


_EVENTS = _Many(EventIn)
_DISPATCHES = _Many(DispatchIn)
_SKIPS = _Many(SkipIn)
_CAMPAIGNS = _Many(CampaignIn)


def parse_events(body: bytes, received_at: datetime, ndjson: bool = False) -> list[AckEvent]:
    return [_event(e, received_at) for e in _decode_many(body, _EVENTS, ndjson)]


def parse_dispatches(body: bytes, received_at: datetime, ndjson: bool = False) -> list[Dispatch]:
    return [_dispatch(d, received_at) for d in _decode_many(body, _DISPATCHES, ndjson)]


def parse_skips(body: bytes, received_at: datetime, ndjson: bool = False) -> list[Skip]:
    return [_skip(s, received_at) for s in _decode_many(body, _SKIPS, ndjson)]


def parse_campaigns(
    body: bytes, received_at: datetime, ndjson: bool = False
) -> list[CampaignRegistration]:
    return [_campaign(c, received_at) for c in _decode_many(body, _CAMPAIGNS, ndjson)]


def _event(e: EventIn, received_at: datetime) -> AckEvent:
    return AckEvent(
        message_id=e.message_id,
        status=e.status,
        received_at=received_at,
        provider=e.provider,
        participant=e.participant,
        recipient=e.recipient,
        occurred_at=e.occurred_at,
        error_code=e.error_code,
        error_title=e.error_title,
        idempotency_key=idempotency_key(e.provider, e.message_id, e.status, e.participant),
    )


def _dispatch(d: DispatchIn, received_at: datetime) -> Dispatch:
    return Dispatch(
        message_id=d.message_id,
        campaign_id=d.campaign_id,
        workspace_id=d.workspace_id,
        recipient=d.recipient,
        dispatched_at=d.dispatched_at,
        received_at=received_at,
        template=d.template,
        variant=d.variant,
        tags=d.tags,
    )


def _skip(s: SkipIn, received_at: datetime) -> Skip:
    return Skip(
        message_id=skip_message_id(s.campaign_id, s.recipient),
        campaign_id=s.campaign_id,
        workspace_id=s.workspace_id,
        recipient=s.recipient,
        received_at=received_at,
        reason_code=s.reason_code,
        reason=s.reason,
        occurred_at=s.occurred_at,
    )


def _campaign(c: CampaignIn, received_at: datetime) -> CampaignRegistration:
    if c.total_recipients != int(c.total_recipients):
        raise BadInput("total_recipients must be a whole number", "$.total_recipients")
    return CampaignRegistration(
        campaign_id=c.campaign_id,
        workspace_id=c.workspace_id,
        name=c.name,
        total_recipients=int(c.total_recipients),
        uuid=c.uuid,
        received_at=received_at,
    )

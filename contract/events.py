"""Message schemas of every topic (docs/contract.md), versioned, encoded as JSON with msgspec.

Each topic's value type is defined here and nowhere else; producers and consumers share the
``encode``/``decode_*`` functions below so that a schema change is made in one place.

Versioning: every envelope carries ``v``. Readers accept ``v <= SCHEMA_VERSION``; fields added
later get defaults, so an old record still decodes.
"""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Annotated, Any, TypeVar

import msgspec

from contract.status import StatusName

SCHEMA_VERSION = 1

AwareDatetime = Annotated[datetime, msgspec.Meta(tz=True)]
NonEmpty = Annotated[str, msgspec.Meta(min_length=1, max_length=512)]
Count = Annotated[int, msgspec.Meta(ge=0)]
# What a sender may label a message with, for the breakdowns of docs/insights.md.
Template = Annotated[str, msgspec.Meta(max_length=128)]
Variant = Annotated[str, msgspec.Meta(max_length=64)]
Tag = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
MAX_TAGS = 5
Tags = Annotated[list[Tag], msgspec.Meta(max_length=MAX_TAGS)]


def join_tags(a: list[str], b: list[str]) -> list[str]:
    """The tags of a message that two records name: the union, sorted, the ``MAX_TAGS``
    smallest kept — the same whatever order the records come in (docs/insights.md). The worker
    joins its dispatches' tags with it, the sink its status records'."""
    if not a and not b:
        return a
    return sorted({*a, *b})[:MAX_TAGS]


class _Record(
    msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, forbid_unknown_fields=False
):
    """Base of every record: immutable, keyword-only, defaults left out on the wire."""


# --------------------------------------------------------------------------- ack-events


class AckEvent(_Record, frozen=True, tag="ack", tag_field="type"):
    """One status report of one message (for a group message: of one participant)."""

    message_id: NonEmpty
    status: StatusName
    received_at: AwareDatetime
    provider: str = "api"
    participant: str = ""
    recipient: str = ""
    occurred_at: AwareDatetime | None = None
    error_code: str = ""
    error_title: str = ""
    idempotency_key: str = ""
    # when the message itself was created, as its sender reported it (whatsapp-web.js
    # message.timestamp); never the ack's time, which is occurred_at or else received_at
    message_created_at: AwareDatetime | None = None


class Dispatch(_Record, frozen=True, tag="dispatch", tag_field="type"):
    """The sender records that a message belongs to a campaign (and to whom it went)."""

    message_id: NonEmpty
    campaign_id: NonEmpty
    workspace_id: NonEmpty
    recipient: str = ""
    dispatched_at: AwareDatetime | None = None
    received_at: AwareDatetime | None = None
    template: Template = ""
    variant: Variant = ""
    tags: Tags = []


class Skip(_Record, frozen=True, tag="skip", tag_field="type"):
    """An audience member the sender never attempted (``POST /v1/skips``), with the reason.

    It lives in the worker as the state of a pseudo-message keyed by :func:`skip_message_id`, so
    skips of one recipient deduplicate and a later dispatch to that recipient can cancel it.
    """

    message_id: NonEmpty
    campaign_id: NonEmpty
    workspace_id: NonEmpty
    recipient: NonEmpty
    received_at: AwareDatetime
    reason_code: str = ""
    reason: str = ""
    occurred_at: AwareDatetime | None = None


class Attempt(_Record, frozen=True, tag="attempt", tag_field="type"):
    """Written by the worker, never by senders: a dispatch to a recipient whose skip is
    ``message_id`` — the skip no longer counts."""

    message_id: NonEmpty
    received_at: AwareDatetime


class Erase(_Record, frozen=True, tag="erase", tag_field="type"):
    """Written by ``tickstream erase``, never by senders: forget the recipient's number in the
    state of ``message_id`` for good, keeping what the message counts (docs/operations.md,
    "Erasure")."""

    message_id: NonEmpty
    workspace_id: NonEmpty
    received_at: AwareDatetime


def skip_message_id(campaign_id: str, recipient: str) -> str:
    """The key of a recipient's skip state: one per campaign and recipient."""
    return f"skip:{campaign_id}:{recipient}"


MessageEvent = AckEvent | Dispatch | Skip | Attempt | Erase


class EventBatch(_Record, frozen=True):
    """The value of an ``ack-events`` record: events that all hash to that record's partition.

    Ingest packs the events of concurrent requests into one record per partition, so the worker
    pays its per-record cost once per batch (see docs/exactness.md and the Faust notes).
    """

    events: list[MessageEvent]
    v: int = SCHEMA_VERSION


def idempotency_key(provider: str, message_id: str, status: str, participant: str = "") -> str:
    """``provider:message_id:status:participant``, the key a provider's duplicate shares."""
    return f"{provider}:{message_id}:{status}:{participant}"


# --------------------------------------------------------------------------- campaign-events


class CampaignRegistration(_Record, frozen=True, tag="campaign", tag_field="type"):
    """A campaign registered or updated by the sender (``POST /v1/campaigns``)."""

    campaign_id: NonEmpty
    workspace_id: NonEmpty
    name: str = ""
    total_recipients: Count = 0
    uuid: str = ""
    received_at: AwareDatetime | None = None


CampaignEvent = CampaignRegistration


# --------------------------------------------------------------------------- campaign-partials


class Counters(_Record, frozen=True):
    """A campaign's cumulative, disjoint counts over some set of messages (docs/contract.md).

    ``dispatched`` counts messages joined to the campaign; ``sent`` counts those whose effective
    status is sent or beyond, ``delivered`` delivered or beyond, and so on; ``failed`` those whose
    effective status is failed.
    """

    dispatched: int = 0
    sent: int = 0
    delivered: int = 0
    read: int = 0
    played: int = 0
    failed: int = 0
    skipped: int = 0


class CampaignPartial(_Record, frozen=True, tag="partial", tag_field="type"):
    """One source partition's whole contribution to a campaign, replacing the previous one."""

    campaign_id: str
    workspace_id: str
    source_partition: int
    counters: Counters
    started_at: AwareDatetime | None = None
    # the worker's breakdown counts (distributions, failures, groups) and failure titles by code:
    # opaque to every other part, see streams/insights.py
    facets: dict[str, int] = {}
    titles: dict[str, str] = {}
    v: int = SCHEMA_VERSION


# --------------------------------------------------------------------------- campaign-stats


class WindowCounts(_Record, frozen=True):
    start: AwareDatetime
    end: AwareDatetime
    sent: int = 0
    delivered: int = 0
    read: int = 0
    played: int = 0
    failed: int = 0
    skipped: int = 0


class Failure(msgspec.Struct, frozen=True, kw_only=True):
    """The campaign's failed messages with one error code (docs/insights.md)."""

    code: str
    title: str
    count: int


class SkipReason(msgspec.Struct, frozen=True, kw_only=True):
    """The campaign's skipped audience members with one reason (docs/insights.md)."""

    code: str
    reason: str
    count: int


class GroupStatistics(msgspec.Struct, frozen=True, kw_only=True):
    """A campaign's counters over the messages of one variant, template or tag."""

    kind: str  # "variant", "template" or "tag"
    value: str
    counters: Counters
    time_to_read: list[int]


class Insights(msgspec.Struct, frozen=True, kw_only=True):
    """Exact breakdowns of a campaign (docs/insights.md). Each ``time_to_*`` list counts the
    messages per bucket of ``contract.insights.BOUNDS_SECONDS`` (one more bucket than bounds)."""

    time_to_sent: list[int]
    time_to_delivered: list[int]
    time_to_read: list[int]
    failures: list[Failure] = []
    groups: list[GroupStatistics] = []
    skip_reasons: list[SkipReason] = []


class Statistics(msgspec.Struct, frozen=True, kw_only=True):
    """The original app's ``CampaignStatisticsUpdated.statistics`` fields, plus ``played``."""

    total_message_count: int
    total_sent_count: int
    total_delivered_count: int
    total_read_count: int
    total_played_count: int
    total_failed_count: int
    pending_count: int
    delivery_rate: float
    read_rate: float
    success_rate: float
    updated_at: AwareDatetime
    dispatched_count: int = 0
    # the funnel (docs/contract.md): total = queued + awaiting_update + sent + failed + skipped
    skipped_count: int = 0
    queued_count: int = 0
    awaiting_update_count: int = 0
    started_at: AwareDatetime | None = None
    completed_at: AwareDatetime | None = None


class Snapshot(msgspec.Struct, frozen=True, kw_only=True):
    """The value on ``campaign-stats``: one per campaign that changed in a window."""

    campaign_id: str
    campaign_uuid: str
    workspace_id: str
    seq: int
    window: WindowCounts
    statistics: Statistics
    timestamp: AwareDatetime
    campaign_name: str = ""
    insights: Insights | None = None
    v: int = SCHEMA_VERSION


# --------------------------------------------------------------------------- message-status


class MessageStatus(_Record, frozen=True):
    """A message's current state, for the per-recipient table; later records supersede.

    Times are the first time each status was seen. Readers merge records rather than replace
    them (highest rank, earliest times), so order and duplicates do not matter.
    """

    message_id: str
    campaign_id: str
    workspace_id: str
    recipient: str
    status: str
    max_rank: int
    failed: bool
    updated_at: AwareDatetime
    dispatched_at: AwareDatetime | None = None
    sent_at: AwareDatetime | None = None
    delivered_at: AwareDatetime | None = None
    read_at: AwareDatetime | None = None
    played_at: AwareDatetime | None = None
    failed_at: AwareDatetime | None = None
    error_code: str = ""
    error_title: str = ""
    participants: dict[str, int] = {}
    # skip rows (message_id = skip_message_id(...)): status "skipped" until a dispatch to the
    # recipient follows, then "attempted" (the recipient's real message row then stands for it)
    skipped: bool = False
    attempted: bool = False
    skip_reason_code: str = ""
    skip_reason: str = ""
    template: str = ""
    variant: str = ""
    tags: list[str] = []
    # the recipient's number was erased (`tickstream erase`): recipient and participants are
    # empty, and a merge keeps them so whatever else it meets
    erased: bool = False


class MessageStatusBatch(_Record, frozen=True):
    """The value of a ``message-status`` record: statuses of one worker partition."""

    statuses: list[MessageStatus]
    v: int = SCHEMA_VERSION


# ------------------------------------------------------------------- sink-dlq, worker-dlq


class DeadLetterRecord(msgspec.Struct, frozen=True, kw_only=True):
    """What a consumer (the sink, the worker) writes to its dead-letter topic for a record it
    cannot use: why, where from, and the untouched bytes, so that nothing it skipped is lost."""

    reason: str
    topic: str
    partition: int
    offset: int
    timestamp: datetime | None
    key_b64: str | None
    value_b64: str | None


def dead_letter_record(
    reason: str,
    topic: str,
    partition: int,
    offset: int,
    key: bytes | None,
    value: bytes | None,
    timestamp: datetime | None = None,
) -> DeadLetterRecord:
    return DeadLetterRecord(
        reason=reason,
        topic=topic,
        partition=partition,
        offset=offset,
        timestamp=timestamp,
        key_b64=_b64(key),
        value_b64=_b64(value),
    )


def _b64(data: bytes | None) -> str | None:
    return None if data is None else base64.b64encode(data).decode("ascii")


# --------------------------------------------------------------------------- ingest-dlq


class IngestDeadLetter(_Record, frozen=True):
    """A request ingest authenticated but could not understand, kept whole for a later replay.

    ``body_base64`` is the raw body exactly as received, or only its first bytes when the whole
    would not fit in one Kafka message: ``body_size`` is the length of the body received
    (docs/ingest.md, "Hardening"). ``headers`` exclude credentials.
    """

    endpoint: str
    reason: str
    field: str
    status: int
    received_at: AwareDatetime
    body_base64: str
    headers: dict[str, str] = {}
    body_size: Count = 0
    v: int = SCHEMA_VERSION


# --------------------------------------------------------------------------- sender-keys


class SenderKey(_Record, frozen=True):
    """A key that lets a sender write for one workspace (``tickstream sender-key``), keyed by its
    id. Holds the SHA-256 of the key's secret, never the secret. A record with ``revoked_at``
    revokes the key for good; it is the last record of its id, so compaction keeps it."""

    key_id: NonEmpty
    workspace_id: str = ""
    secret_sha256: str = ""
    issued_at: AwareDatetime | None = None
    revoked_at: AwareDatetime | None = None
    v: int = SCHEMA_VERSION


# --------------------------------------------------------------------------- campaign-owners


class CampaignOwner(_Record, frozen=True):
    """The workspace a campaign was first registered for, written by ingest when it registers a
    campaign it did not know; compacted, so it outlives ``campaign-events``' retention."""

    campaign_id: NonEmpty
    workspace_id: NonEmpty
    registered_at: AwareDatetime
    v: int = SCHEMA_VERSION


# --------------------------------------------------------------------------- codecs

_encoder = msgspec.json.Encoder()
_event_batch = msgspec.json.Decoder(EventBatch)
_campaign_event = msgspec.json.Decoder(CampaignEvent)
_partial = msgspec.json.Decoder(CampaignPartial)
_campaign_input = msgspec.json.Decoder(CampaignPartial | CampaignEvent)
_snapshot = msgspec.json.Decoder(Snapshot)
_status_batch = msgspec.json.Decoder(MessageStatusBatch)
_ingest_dead_letter = msgspec.json.Decoder(IngestDeadLetter)
_dead_letter = msgspec.json.Decoder(DeadLetterRecord)
_sender_key = msgspec.json.Decoder(SenderKey)
_campaign_owner = msgspec.json.Decoder(CampaignOwner)

T = TypeVar("T")

# What every decode_* function raises for a record it cannot use.
DecodeError = msgspec.DecodeError


def encode(record: Any) -> bytes:
    """JSON bytes of any record above."""
    return _encoder.encode(record)


def _decode(decoder: msgspec.json.Decoder[T], data: bytes | None) -> T:
    """Every malformed record is a :data:`DecodeError`, so each consumer skips or dead-letters
    them all one way: an empty record (a tombstone) and one nested deeper than the decoder follows
    (a ``RecursionError`` otherwise, which would stop the consumer) included."""
    if not data:
        raise msgspec.DecodeError("empty record")
    try:
        return decoder.decode(data)
    except RecursionError as exc:
        raise msgspec.DecodeError("nested too deeply") from exc


def decode_event_batch(data: bytes | None) -> EventBatch:
    return _decode(_event_batch, data)


def decode_campaign_event(data: bytes | None) -> CampaignEvent:
    return _decode(_campaign_event, data)


def decode_partial(data: bytes | None) -> CampaignPartial:
    return _decode(_partial, data)


def decode_campaign_input(data: bytes | None) -> CampaignPartial | CampaignEvent:
    """A record of either topic that the worker's campaign stage reads."""
    return _decode(_campaign_input, data)


def decode_dead_letter(data: bytes | None) -> DeadLetterRecord:
    return _decode(_dead_letter, data)


def decode_ingest_dead_letter(data: bytes | None) -> IngestDeadLetter:
    return _decode(_ingest_dead_letter, data)


def decode_sender_key(data: bytes | None) -> SenderKey:
    return _decode(_sender_key, data)


def decode_campaign_owner(data: bytes | None) -> CampaignOwner:
    return _decode(_campaign_owner, data)


def decode_snapshot(data: bytes | None) -> Snapshot:
    return _decode(_snapshot, data)


def decode_status_batch(data: bytes | None) -> MessageStatusBatch:
    return _decode(_status_batch, data)

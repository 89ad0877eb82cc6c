"""What the sink makes of one Kafka record: an item to write, or a dead letter saying why not.

Decoding also refuses values PostgreSQL would refuse (a NUL character, a number too large for its
column): such a record must go to the dead-letter topic here, not fail a whole batch later and
stop the sink on a write that can never succeed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec
import sqlalchemy as sa

from contract.events import (
    CampaignRegistration,
    DecodeError,
    MessageStatusBatch,
    Snapshot,
    dead_letter_record,
    decode_campaign_event,
    decode_snapshot,
    decode_status_batch,
    encode,
)
from contract.schema import STATISTICS_COLUMNS, WINDOW_CHANGES, campaign_stats
from contract.topics import Topics

from .merge import RANKS

INT4_MAX = 2**31 - 1
INT8_MAX = 2**63 - 1


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a record came from: what a dead letter names and what the offset commit advances."""

    topic: str
    partition: int
    offset: int
    timestamp: datetime | None = None


Payload = Snapshot | MessageStatusBatch | CampaignRegistration


@dataclass(frozen=True, slots=True)
class Item:
    """A decoded record and its origin (kept so a batch can be retried one record at a time)."""

    origin: Origin
    payload: Payload

    @property
    def rows(self) -> int:
        if isinstance(self.payload, MessageStatusBatch):
            return len(self.payload.statuses)
        return 1


@dataclass(frozen=True, slots=True)
class DeadLetter:
    origin: Origin
    reason: str
    key: bytes | None
    value: bytes | None

    def encode(self) -> bytes:
        origin = self.origin
        return encode(
            dead_letter_record(
                self.reason,
                origin.topic,
                origin.partition,
                origin.offset,
                self.key,
                self.value,
                origin.timestamp,
            )
        )


class Poison(ValueError):
    """A record that can never be written; the message is the dead letter's reason."""


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def _refuse_nul(raw: bytes, payload: Payload) -> None:
    # Cheap test on the raw bytes first; only a possible hit walks the decoded value.
    if b"\\u0000" in raw and _has_nul(msgspec.to_builtins(payload)):
        raise Poison("a text field holds a NUL character (\\u0000), which PostgreSQL cannot store")


def _check_int(name: str, value: int, high: int = INT4_MAX, low: int = 0) -> None:
    if not low <= value <= high:
        raise Poison(f"{name} = {value} is outside {low}..{high}")


_STATISTICS_COUNTS = tuple(
    name for name in STATISTICS_COLUMNS if isinstance(campaign_stats.c[name].type, sa.Integer)
)


def _check_snapshot(snapshot: Snapshot) -> None:
    _check_int("seq", snapshot.seq, INT8_MAX)
    statistics, window = snapshot.statistics, snapshot.window
    for name in _STATISTICS_COUNTS:
        value = getattr(statistics, name)
        if not 0 <= value <= INT4_MAX:
            _check_int(f"statistics.{name}", value)
    for name in WINDOW_CHANGES:
        value = getattr(window, name)
        if not -INT4_MAX <= value <= INT4_MAX:
            _check_int(f"window.{name}", value, INT4_MAX, -INT4_MAX)


def _check_statuses(batch: MessageStatusBatch) -> None:
    top = RANKS[-1]
    for index, status in enumerate(batch.statuses):
        if status.max_rank not in RANKS:
            raise Poison(f"statuses[{index}].max_rank = {status.max_rank} is outside 0..{top}")
        for participant, rank in status.participants.items():
            if rank not in RANKS:
                raise Poison(
                    f"statuses[{index}].participants[{participant!r}] = {rank} is outside 0..{top}"
                )


def decode_payload(topics: Topics, topic: str, raw: bytes) -> Payload:
    """The record's value decoded and checked, or :class:`Poison` with the reason."""
    payload: Payload
    try:
        if topic == topics.campaign_stats:
            payload = decode_snapshot(raw)
            _check_snapshot(payload)
        elif topic == topics.message_status:
            payload = decode_status_batch(raw)
            _check_statuses(payload)
        elif topic == topics.campaign_events:
            payload = decode_campaign_event(raw)
            _check_int("total_recipients", payload.total_recipients)
        else:
            raise Poison(f"the sink does not read topic {topic!r}")
    except DecodeError as exc:
        raise Poison(f"cannot decode: {exc}") from None
    _refuse_nul(raw, payload)
    return payload


def classify(
    topics: Topics, origin: Origin, key: bytes | None, value: bytes | None
) -> Item | DeadLetter:
    """A record as the sink will treat it: an item to write, or a dead letter with the reason."""
    if value is None:
        return DeadLetter(origin, "the record has no value", key, value)
    try:
        return Item(origin, decode_payload(topics, origin.topic, value))
    except Poison as exc:
        return DeadLetter(origin, str(exc), key, value)

"""Decoding and refusing: every record becomes an item to write or a dead letter with a reason."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import msgspec

from contract.events import (
    CampaignRegistration,
    Failure,
    Insights,
    MessageStatus,
    MessageStatusBatch,
    Snapshot,
    Statistics,
    WindowCounts,
    decode_dead_letter,
    encode,
)
from contract.insights import BUCKETS
from contract.topics import Topics
from sink.records import DeadLetter, Item, Origin, classify
from sink.registrations import settle

TOPICS = Topics(prefix="x-", partitions=4)
T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def origin(topic: str = TOPICS.message_status, offset: int = 7) -> Origin:
    return Origin(topic, 2, offset, T0)


def status(**changes: object) -> MessageStatus:
    fields: dict[str, object] = {
        "message_id": "m1",
        "campaign_id": "c1",
        "workspace_id": "w1",
        "recipient": "5511999",
        "status": "sent",
        "max_rank": 1,
        "failed": False,
        "updated_at": T0,
    }
    fields.update(changes)
    return MessageStatus(**fields)  # type: ignore[arg-type]


def test_a_valid_status_batch_is_an_item_counting_its_rows() -> None:
    raw = encode(MessageStatusBatch(statuses=[status(), status(message_id="m2")]))
    item = classify(TOPICS, origin(), b"k", raw)
    assert isinstance(item, Item)
    assert item.rows == 2


def test_garbage_becomes_a_dead_letter_with_reason_and_raw_bytes() -> None:
    letter = classify(TOPICS, origin(), b"key", b"{not json")
    assert isinstance(letter, DeadLetter)
    assert letter.reason.startswith("cannot decode")
    record = decode_dead_letter(letter.encode())
    assert (record.topic, record.partition, record.offset) == (TOPICS.message_status, 2, 7)
    assert base64.b64decode(record.value_b64 or "") == b"{not json"
    assert base64.b64decode(record.key_b64 or "") == b"key"


def test_a_missing_field_is_named() -> None:
    letter = classify(TOPICS, origin(), None, b'{"statuses": [{"message_id": "m"}]}')
    assert isinstance(letter, DeadLetter)
    assert "statuses[0]" in letter.reason


def test_values_postgresql_would_refuse_are_dead_letters() -> None:
    nul = encode(MessageStatusBatch(statuses=[status(recipient="55\x00")]))
    bad_rank = encode(MessageStatusBatch(statuses=[status(max_rank=9)]))
    bad_participant = encode(MessageStatusBatch(statuses=[status(participants={"p": 70000})]))
    reasons = [classify(TOPICS, origin(), None, raw) for raw in (nul, bad_rank, bad_participant)]
    assert all(isinstance(r, DeadLetter) for r in reasons)
    assert "NUL" in reasons[0].reason  # type: ignore[union-attr]
    assert "max_rank = 9" in reasons[1].reason  # type: ignore[union-attr]
    assert "participants" in reasons[2].reason  # type: ignore[union-attr]


def snapshot_with(insights: Insights) -> Snapshot:
    return Snapshot(
        campaign_id="c1",
        campaign_uuid="",
        workspace_id="w1",
        seq=1,
        window=WindowCounts(start=T0, end=T0),
        statistics=Statistics(
            total_message_count=1,
            total_sent_count=1,
            total_delivered_count=0,
            total_read_count=0,
            total_played_count=0,
            total_failed_count=1,
            pending_count=0,
            delivery_rate=0.0,
            read_rate=0.0,
            success_rate=0.0,
            updated_at=T0,
        ),
        timestamp=T0,
        insights=insights,
    )


def test_a_nul_in_a_label_or_in_the_insights_is_a_dead_letter() -> None:
    """The new JSONB and text columns refuse it like the others (docs/sink.md, "Faults")."""
    empty = [0] * BUCKETS
    failure = Failure(code="", title="lost\x00", count=1)
    insights = Insights(
        time_to_sent=empty, time_to_delivered=empty, time_to_read=empty, failures=[failure]
    )
    stats = origin(TOPICS.campaign_stats)
    raws = [
        (origin(), encode(MessageStatusBatch(statuses=[status(tags=["vip", "a\x00"])]))),
        (origin(), encode(MessageStatusBatch(statuses=[status(template="t\x00")]))),
        (stats, encode(snapshot_with(insights))),
    ]
    for where, raw in raws:
        letter = classify(TOPICS, where, None, raw)
        assert isinstance(letter, DeadLetter)
        assert "NUL" in letter.reason
    clean = msgspec.structs.replace(insights, failures=[Failure(code="1", title="x", count=1)])
    assert isinstance(classify(TOPICS, stats, None, encode(snapshot_with(clean))), Item)


def test_an_escaped_backslash_is_not_mistaken_for_nul() -> None:
    raw = encode(MessageStatusBatch(statuses=[status(recipient="\\u0000")]))
    assert isinstance(classify(TOPICS, origin(), None, raw), Item)


def test_a_tombstone_and_a_foreign_topic_are_dead_letters() -> None:
    assert isinstance(classify(TOPICS, origin(), b"k", None), DeadLetter)
    foreign = classify(TOPICS, origin(topic="other"), None, b"{}")
    assert isinstance(foreign, DeadLetter)
    assert "does not read" in foreign.reason


def registration(workspace: str, name: str, campaign: str = "c1") -> CampaignRegistration:
    return CampaignRegistration(campaign_id=campaign, workspace_id=workspace, name=name)


def test_the_last_registration_of_the_owning_workspace_wins() -> None:
    regs = [
        (registration("w1", "first"), origin(TOPICS.campaign_events, 1)),
        (registration("w2", "intruder"), origin(TOPICS.campaign_events, 2)),
        (registration("w1", "renamed"), origin(TOPICS.campaign_events, 3)),
        (registration("w9", "other", campaign="c2"), origin(TOPICS.campaign_events, 4)),
    ]
    accepted, refused = settle(regs, {})
    assert [(r.campaign.campaign_id, r.campaign.name) for r in accepted] == [
        ("c1", "renamed"),
        ("c2", "other"),
    ]
    assert [(d.origin.offset, "'w1'" in d.reason and "'w2'" in d.reason) for d in refused] == [
        (2, True)
    ]
    # the time is the Kafka record's when the sender gave none: a replay writes the same value
    assert accepted[0].updated_at == T0


def test_a_stored_campaign_keeps_its_workspace() -> None:
    accepted, refused = settle(
        [(registration("w2", "x"), origin(TOPICS.campaign_events))], {"c1": "w1"}
    )
    assert accepted == []
    assert len(refused) == 1
    assert refused[0].value == encode(registration("w2", "x"))

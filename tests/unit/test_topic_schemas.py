"""The committed JSON Schemas of the public topics are what the msgspec types generate today, and
records the types encode validate against them."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import jsonschema

from contract.events import (
    AckEvent,
    CampaignRegistration,
    Dispatch,
    EventBatch,
    MessageStatus,
    MessageStatusBatch,
    Skip,
    encode,
)
from contract.topic_schemas import rendered_schemas
from contract.topics import ACK_EVENTS, CAMPAIGN_EVENTS, MESSAGE_STATUS

SCHEMAS = Path(__file__).resolve().parents[2] / "docs" / "schemas"
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def committed(topic: str) -> dict[str, object]:
    return json.loads((SCHEMAS / f"{topic}.schema.json").read_text(encoding="utf-8"))


def test_the_committed_schemas_are_the_generated_ones() -> None:
    expected = rendered_schemas()
    on_disk = {path.name: path.read_text(encoding="utf-8") for path in SCHEMAS.glob("*.json")}
    assert on_disk.keys() == expected.keys()
    for name, text in expected.items():
        assert on_disk[name] == text, f"{name} drifted: run `make schemas` and commit the result"


def test_every_committed_schema_is_a_valid_draft_2020_12_schema() -> None:
    for path in SCHEMAS.glob("*.json"):
        jsonschema.Draft202012Validator.check_schema(json.loads(path.read_text(encoding="utf-8")))


def test_input_records_validate_and_a_wrong_status_does_not() -> None:
    batch = EventBatch(
        events=[
            Dispatch(message_id="m1", campaign_id="c1", workspace_id="w1", recipient="+1"),
            AckEvent(message_id="m1", status="read", received_at=NOW, occurred_at=NOW),
            Skip(
                message_id="s", campaign_id="c1", workspace_id="w1", recipient="+2", received_at=NOW
            ),
        ]
    )
    validator = jsonschema.Draft202012Validator(committed(ACK_EVENTS))
    validator.validate(json.loads(encode(batch)))
    wrong = json.loads(encode(batch))
    wrong["events"][1]["status"] = "seen"
    assert not validator.is_valid(wrong)
    registration = CampaignRegistration(campaign_id="c1", workspace_id="w1", total_recipients=3)
    jsonschema.validate(json.loads(encode(registration)), committed(CAMPAIGN_EVENTS))


def test_a_status_record_without_its_campaign_is_refused() -> None:
    status = MessageStatus(
        message_id="m1",
        campaign_id="c1",
        workspace_id="w1",
        recipient="+1",
        status="read",
        max_rank=3,
        failed=False,
        updated_at=NOW,
        read_at=NOW,
    )
    value = json.loads(encode(MessageStatusBatch(statuses=[status])))
    validator = jsonschema.Draft202012Validator(committed(MESSAGE_STATUS))
    validator.validate(value)
    del value["statuses"][0]["campaign_id"]
    assert not validator.is_valid(value)

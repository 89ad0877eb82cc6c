"""Sender keys and what they may write, as plain functions of plain records: the key format,
revocation, campaign owners, and the workspace rules of every /v1 item."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contract.events import (
    CampaignOwner,
    CampaignRegistration,
    Dispatch,
    Skip,
    decode_sender_key,
    encode,
)
from ingest import sender_keys
from ingest.access import TRUSTED, Forbidden, Scope, check, claims, unknown_campaigns
from ingest.directory import Directory

NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)


def _owner(campaign: str, workspace: str) -> CampaignOwner:
    return CampaignOwner(campaign_id=campaign, workspace_id=workspace, registered_at=NOW)


def _registration(campaign: str, workspace: str) -> CampaignRegistration:
    return CampaignRegistration(campaign_id=campaign, workspace_id=workspace, received_at=NOW)


def _dispatch(campaign: str, workspace: str) -> Dispatch:
    return Dispatch(message_id=f"m-{campaign}", campaign_id=campaign, workspace_id=workspace)


def test_a_key_holds_its_id_and_a_secret_the_record_never_holds() -> None:
    token, record = sender_keys.issue("w1", NOW)
    assert sender_keys.is_sender_key(token)
    assert sender_keys.key_id_of(token) == record.key_id
    assert (record.workspace_id, record.issued_at, record.revoked_at) == ("w1", NOW, None)
    secret = token.split("_", 2)[2]
    assert len(secret) >= 43 and secret not in record.secret_sha256
    assert sender_keys.matches(token, record)
    assert not sender_keys.matches(token[:-1] + ("A" if token[-1] != "A" else "B"), record)
    other, _ = sender_keys.issue("w1", NOW)
    assert not sender_keys.matches(other, record)
    for not_a_key in ("api-token", "tsk_", "tsk_abc", "Bearer tsk_a_b"):
        assert sender_keys.key_id_of(not_a_key) == ""


@given(order=st.permutations(["issue", "revoke", "issue again"]))
def test_a_revocation_is_final_in_any_order(order: list[str]) -> None:
    _, record = sender_keys.issue("w1", NOW)
    records = {
        "issue": record,
        "revoke": sender_keys.revocation(record.key_id, NOW),
        "issue again": record,
    }
    directory = Directory()
    for name in order:
        directory.apply_key(records[name])
    assert record.key_id in directory.revoked and record.key_id not in directory.keys


def test_owners_last_record_wins_and_old_registrations_fill_the_gaps() -> None:
    directory = Directory()
    directory.apply_registration(_registration("old", "w1"))
    directory.apply_registration(_registration("old", "w2"))  # the worker keeps the first too
    directory.apply_registration(_registration("c1", "w9"))
    directory.apply_owner(_owner("c1", "w1"))
    directory.apply_owner(_owner("c2", "w1"))
    directory.apply_owner(_owner("c2", "w2"))  # what compaction keeps, every instance keeps
    assert [directory.owner(c) for c in ("old", "c1", "c2", "none")] == ["w1", "w1", "w2", None]


OWNERS = {"mine": "w1", "theirs": "w2"}


@pytest.mark.parametrize(
    ("items", "refused"),
    [
        ([_dispatch("mine", "w1")], None),
        (
            [
                Skip(
                    message_id="s",
                    campaign_id="mine",
                    workspace_id="w1",
                    recipient="+",
                    received_at=NOW,
                )
            ],
            None,
        ),
        ([_registration("mine", "w1"), _registration("new", "w1")], None),
        ([_dispatch("mine", "w1"), _dispatch("theirs", "w1")], (1, "belongs to another workspace")),
        ([_dispatch("theirs", "w2")], (0, "writes for workspace w1 only")),
        ([_dispatch("mine", "w2")], (0, "writes for workspace w1 only")),
        ([_dispatch("new", "w1")], (0, "is not registered")),
        ([_registration("theirs", "w1")], (0, "belongs to another workspace")),
        ([_registration("new", "w2")], (0, "writes for workspace w1 only")),
    ],
)
def test_a_scoped_key_writes_its_own_workspaces_campaigns_only(
    items: list[Dispatch | Skip | CampaignRegistration], refused: tuple[int, str] | None
) -> None:
    if refused is None:
        check(Scope("w1"), items, OWNERS.get)
        return
    with pytest.raises(Forbidden) as caught:
        check(Scope("w1"), items, OWNERS.get)
    assert caught.value.item == refused[0]
    assert caught.value.campaign_id == items[refused[0]].campaign_id
    assert refused[1] in caught.value.detail


def test_the_global_token_writes_anything() -> None:
    check(TRUSTED, [_dispatch("theirs", "w1"), _dispatch("new", "w3")], OWNERS.get)


def test_only_campaigns_new_to_ingest_are_claimed_once_each() -> None:
    registrations = [
        _registration("mine", "w1"),
        _registration("new", "w3"),
        _registration("new", "w4"),
        _registration("other", "w3"),
    ]
    assert unknown_campaigns(registrations, OWNERS.get) == {"new", "other"}
    assert claims(registrations, OWNERS.get) == [_owner("new", "w3"), _owner("other", "w3")]


def test_sender_key_records_encode_no_secret() -> None:
    token, record = sender_keys.issue("w1", NOW)
    assert decode_sender_key(encode(record)) == record
    assert token.encode() not in encode(record)

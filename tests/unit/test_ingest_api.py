"""The canonical API's bodies, the batch packing rule, partitions and dead letters."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contract.events import (
    MAX_TAGS,
    AckEvent,
    Dispatch,
    Skip,
    decode_event_batch,
    skip_message_id,
)
from contract.partitioning import partition_for, partitions_for
from ingest.batcher import group_by_partition, pack
from ingest.dlq import dead_letter, safe_headers
from ingest.payload import BadInput, event_time
from ingest.providers import api

NOW = datetime(2026, 11, 25, 13, 0, tzinfo=UTC)
EVENT = {"message_id": "m1", "status": "read", "occurred_at": "2026-11-25T12:00:00Z"}


def _dumps(value: object) -> bytes:
    return json.dumps(value).encode()


def test_events_as_object_array_ndjson_and_pretty_json() -> None:
    single = api.parse_events(_dumps(EVENT), NOW)
    many = api.parse_events(_dumps([EVENT, {**EVENT, "message_id": "m2"}]), NOW)
    ndjson = api.parse_events(_dumps(EVENT) + b"\n\n" + _dumps({**EVENT, "message_id": "m2"}), NOW)
    pretty = api.parse_events(json.dumps(EVENT, indent=2).encode(), NOW)
    forced = api.parse_events(_dumps(EVENT), NOW, ndjson=True)
    assert single == pretty == forced == many[:1]
    assert [e.message_id for e in ndjson] == ["m1", "m2"] == [e.message_id for e in many]
    event = single[0]
    assert event == AckEvent(
        message_id="m1",
        status="read",
        received_at=NOW,
        provider="api",
        occurred_at=datetime(2026, 11, 25, 12, 0, tzinfo=UTC),
        idempotency_key="api:m1:read:",
    )


def test_event_fields_are_kept_and_keyed() -> None:
    given_event = {
        "message_id": "g1",
        "status": "delivered",
        "provider": "laravel",
        "participant": "5511777@c.us",
        "recipient": "120363@g.us",
        "error_code": "",
    }
    event = api.parse_events(_dumps(given_event), NOW)[0]
    assert event.idempotency_key == "laravel:g1:delivered:5511777@c.us"
    assert (event.participant, event.recipient) == ("5511777@c.us", "120363@g.us")


@pytest.mark.parametrize(
    ("body", "field", "status"),
    [
        (b"", "$", 400),
        (b"   \n", "$", 400),
        (b"[]", "$", 422),
        (
            b'[{"message_id": "m1", "status": "sent"}, {"message_id": "", "status": "sent"}]',
            "$[1].message_id",
            422,
        ),
        (b'{"message_id": "m1", "status": "seen"}', "$.status", 422),
        (b'{"message_id": "m1"}', "$", 422),
        (
            b'{"message_id": "m1", "status": "sent", "occurred_at": "2026-11-25T12:00:00"}',
            "$.occurred_at",
            422,
        ),
        (b'[{"message_id": "m1", "status": "sent"}', "$", 400),
        (b"42", "$", 422),
    ],
)
def test_event_refusals_name_the_field(body: bytes, field: str, status: int) -> None:
    with pytest.raises(BadInput) as caught:
        api.parse_events(body, NOW)
    assert (caught.value.field, caught.value.status) == (field, status)


def test_ndjson_refusal_names_the_line() -> None:
    body = _dumps(EVENT) + b"\n" + b'{"message_id": "m2", "status": 3}'
    with pytest.raises(BadInput) as caught:
        api.parse_events(body, NOW)
    assert caught.value.reason.startswith("line 2: ")
    assert caught.value.field == "$.status"


def test_dispatches_and_campaigns() -> None:
    dispatch = api.parse_dispatches(
        _dumps(
            {
                "message_id": "m1",
                "campaign_id": "789",
                "workspace_id": "1",
                "recipient": "+5511999999999",
                "dispatched_at": "2026-11-25T12:00:00+00:00",
            }
        ),
        NOW,
    )[0]
    assert isinstance(dispatch, Dispatch)
    assert (dispatch.campaign_id, dispatch.received_at) == ("789", NOW)
    campaign = api.parse_campaigns(
        _dumps(
            {"campaign_id": "789", "workspace_id": "1", "total_recipients": 1000.0, "uuid": "c5ab"}
        ),
        NOW,
    )[0]
    assert (campaign.total_recipients, campaign.uuid, campaign.received_at) == (1000, "c5ab", NOW)
    with pytest.raises(BadInput) as caught:
        api.parse_campaigns(
            _dumps({"campaign_id": "7", "workspace_id": "1", "total_recipients": 1.5}), NOW
        )
    assert caught.value.field == "$.total_recipients"
    with pytest.raises(BadInput) as caught:
        api.parse_campaigns(
            _dumps({"campaign_id": "7", "workspace_id": "1", "total_recipients": -1}), NOW
        )
    assert caught.value.status == 422
    with pytest.raises(BadInput) as caught:
        api.parse_dispatches(_dumps([{"message_id": "m", "campaign_id": "c"}]), NOW)
    assert caught.value.field == "$[0]"


DISPATCH = {"message_id": "m1", "campaign_id": "789", "workspace_id": "1"}


def test_dispatch_labels_reach_the_dispatch() -> None:
    labelled = {**DISPATCH, "template": "promo_nov", "variant": "B", "tags": ["vip", "sp"]}
    (dispatch,) = api.parse_dispatches(_dumps(labelled), NOW)
    assert (dispatch.template, dispatch.variant, dispatch.tags) == ("promo_nov", "B", ["vip", "sp"])
    (bare,) = api.parse_dispatches(_dumps(DISPATCH), NOW)
    assert (bare.template, bare.variant, bare.tags) == ("", "", [])
    # the longest labels the contract allows pass, and the worker can read them back
    longest = {
        **DISPATCH,
        "template": "t" * 128,
        "variant": "v" * 64,
        "tags": [f"{n}" * 64 for n in range(MAX_TAGS)],
    }
    (dispatch,) = api.parse_dispatches(_dumps(longest), NOW)
    assert decode_event_batch(pack([dispatch])[0][1]).events == [dispatch]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**DISPATCH, "tags": ["a", "b", "c", "d", "e", "f"]}, "$.tags"),
        ({**DISPATCH, "tags": ["a", ""]}, "$.tags[1]"),
        ({**DISPATCH, "tags": ["a", "x" * 65]}, "$.tags[1]"),
        ({**DISPATCH, "tags": "vip"}, "$.tags"),
        ({**DISPATCH, "variant": "v" * 65}, "$.variant"),
        ({**DISPATCH, "template": "t" * 129}, "$.template"),
        ([DISPATCH, {**DISPATCH, "variant": 2}], "$[1].variant"),
    ],
)
def test_dispatch_label_refusals_name_the_field(body: object, field: str) -> None:
    with pytest.raises(BadInput) as caught:
        api.parse_dispatches(_dumps(body), NOW)
    assert (caught.value.field, caught.value.status) == (field, 422)


SKIP = {
    "campaign_id": "789",
    "workspace_id": "1",
    "recipient": "+5511999999999",
    "reason_code": "no_whatsapp",
    "reason": "the number has no WhatsApp account",
}


def test_skips_become_skip_events_keyed_by_campaign_and_recipient() -> None:
    single = api.parse_skips(_dumps(SKIP), NOW)
    ndjson = api.parse_skips(_dumps(SKIP) + b"\n" + _dumps({**SKIP, "recipient": "+2"}), NOW)
    many = api.parse_skips(_dumps([SKIP, {**SKIP, "recipient": "+2"}]), NOW)
    assert single == ndjson[:1] == many[:1]
    assert [s.message_id for s in many] == ["skip:789:+5511999999999", "skip:789:+2"]
    assert single[0] == Skip(
        message_id=skip_message_id("789", "+5511999999999"),
        campaign_id="789",
        workspace_id="1",
        recipient="+5511999999999",
        received_at=NOW,
        reason_code="no_whatsapp",
        reason="the number has no WhatsApp account",
    )
    bare = api.parse_skips(
        _dumps({"campaign_id": "7", "workspace_id": "1", "recipient": "+3"}), NOW
    )
    assert (bare[0].reason_code, bare[0].reason, bare[0].occurred_at) == ("", "", None)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**SKIP, "recipient": ""}, "$.recipient"),
        ({k: v for k, v in SKIP.items() if k != "recipient"}, "$"),
        ({**SKIP, "campaign_id": ""}, "$.campaign_id"),
        ({**SKIP, "reason_code": 131026}, "$.reason_code"),
        ({**SKIP, "reason": None}, "$.reason"),
        ({**SKIP, "recipient": "+1" * 200}, "$.recipient"),
        ({**SKIP, "campaign_id": "c" * 251}, "$.campaign_id"),
        ([SKIP, {**SKIP, "workspace_id": ""}], "$[1].workspace_id"),
    ],
)
def test_skip_refusals_name_the_field(body: object, field: str) -> None:
    with pytest.raises(BadInput) as caught:
        api.parse_skips(_dumps(body), NOW)
    assert (caught.value.field, caught.value.status) == (field, 422)
    if field == "$":
        assert "recipient" in caught.value.reason


@given(
    campaign=st.text(min_size=1, max_size=250),
    recipient=st.text(min_size=1, max_size=256),
)
def test_every_accepted_skip_id_is_a_valid_message_id(campaign: str, recipient: str) -> None:
    body = _dumps({"campaign_id": campaign, "workspace_id": "w", "recipient": recipient})
    (skip,) = api.parse_skips(body, NOW)
    assert skip.message_id == f"skip:{campaign}:{recipient}"
    assert decode_event_batch(pack([skip])[0][1]).events == [skip]  # the worker can read it


def test_event_times() -> None:
    assert event_time(None, "$") is None and event_time("", "$") is None
    assert (
        event_time(1764075600, "$")
        == event_time("1764075600", "$")
        == event_time(1764075600000, "$")
    )
    assert event_time("2026-11-25T13:00:00", "$") == NOW  # naive means UTC
    for bad in ("yesterday", 1e300, float("inf")):
        with pytest.raises(BadInput):
            event_time(bad, "$.t")


# --------------------------------------------------------------------------- partitions, packing


@given(keys=st.lists(st.text(max_size=80), max_size=50), partitions=st.integers(1, 64))
def test_partitions_for_is_partition_for(keys: list[str], partitions: int) -> None:
    assert partitions_for(keys, partitions) == [partition_for(k, partitions) for k in keys]


def _acks(ids: list[str]) -> list[AckEvent]:
    return [
        AckEvent(message_id=i, status="sent", received_at=NOW, idempotency_key=f"api:{i}:sent:")
        for i in ids
    ]


@given(
    ids=st.lists(st.text(min_size=1, max_size=30), min_size=1, max_size=60),
    partitions=st.integers(1, 16),
)
def test_groups_hold_only_their_partition_and_lose_nothing(ids: list[str], partitions: int) -> None:
    events = _acks(ids)
    groups = group_by_partition(events, partitions)
    assert sorted(e.message_id for g in groups.values() for e in g) == sorted(ids)
    for partition, group in groups.items():
        assert all(partition_for(e.message_id, partitions) == partition for e in group)


def test_pack_splits_big_batches_and_keys_each_record_by_its_first_event() -> None:
    events = _acks([f"message-{i:05d}" for i in range(2000)])
    one = pack(events)
    assert len(one) == 1 and one[0][0] == "message-00000"
    records = pack(events, max_bytes=20_000)
    assert len(records) > 1 and all(len(value) <= 20_000 for _, value in records)
    unpacked = [decode_event_batch(value).events for _, value in records]
    assert [e for batch in unpacked for e in batch] == events
    assert [key for key, _ in records] == [batch[0].message_id for batch in unpacked]


# --------------------------------------------------------------------------- dead letters


def test_dead_letters_keep_raw_bytes_and_drop_credentials() -> None:
    headers = [
        ("Authorization", "Bearer secret"),
        ("X-HMAC-Signature", "ab"),
        ("X-Webhook-Hmac", "cd"),
        ("X-Hub-Signature-256", "sha256=ef"),
        ("X-Twilio-Signature", "gh"),
        ("Cookie", "session=1"),
        ("Content-Type", "application/json"),
        ("X-Timestamp", "1764075600"),
        ("Via", "a"),
        ("via", "b"),
    ]
    assert safe_headers(headers) == {
        "content-type": "application/json",
        "x-timestamp": "1764075600",
        "via": "a, b",
    }
    letter = dead_letter(
        "/webhooks/meta", "bad status", "$.entry[0]", 422, b"\x00\xffraw", headers, NOW
    )
    assert base64.b64decode(letter.body_base64) == b"\x00\xffraw"
    assert (letter.endpoint, letter.field, letter.status, letter.received_at) == (
        "/webhooks/meta",
        "$.entry[0]",
        422,
        NOW,
    )


def test_accepted_metric_series_stay_bounded() -> None:
    from ingest.metrics import MAX_LABEL_PAIRS, Metrics

    metrics = Metrics()
    for i in range(MAX_LABEL_PAIRS + 50):
        event = AckEvent(message_id="m", status="sent", received_at=NOW, provider=f"p{i}")
        metrics.count_accepted([event, event])
    dispatch = Dispatch(message_id="m", campaign_id="c", workspace_id="w")
    metrics.count_accepted([dispatch])
    skip = Skip(message_id="s", campaign_id="c", workspace_id="w", recipient="r", received_at=NOW)
    metrics.count_accepted([skip, skip])
    samples = {
        (s.labels["provider"], s.labels["status"]): s.value
        for metric in metrics.registry.collect()
        for s in metric.samples
        if s.name == "tickstream_ingest_events_accepted_total"
    }
    # + ("other", "sent"), ("other", "dispatch") and ("other", "skip")
    assert len(samples) == MAX_LABEL_PAIRS + 3
    assert samples[("p0", "sent")] == 2
    assert samples[("other", "sent")] == 2 * 50
    assert samples[("other", "dispatch")] == 1
    assert samples[("other", "skip")] == 2
    assert sum(samples.values()) == 2 * (MAX_LABEL_PAIRS + 50) + 3

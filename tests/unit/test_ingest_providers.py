"""Each provider's payloads, written after its public documentation, through its adapter:
every value of the status table in docs/contract.md, event times, participants, and refusals that
name the offending field. Plus a fuzzer: no body makes an adapter raise anything but ``BadInput``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contract.events import AckEvent
from ingest.payload import BadInput
from ingest.providers import evolution, meta, twilio, waha, webjs

NOW = datetime(2026, 11, 25, 13, 0, tzinfo=UTC)
MSG = "true_5511999999999@c.us_3EB0C767D26A1D5D7A8F"


def _one(events: list[AckEvent]) -> AckEvent:
    assert len(events) == 1
    return events[0]


def _dumps(value: Any) -> bytes:
    return json.dumps(value).encode()


# --------------------------------------------------------------------------- webjs


CREATED = 1764075000  # message.timestamp: when the message was created


def _webjs_status(event: str = "message_status_updated", **data: Any) -> bytes:
    """The Node service's ack events as it builds them (docs/ingest.md)."""
    return _dumps(
        {
            "event": event,
            "data": {
                "workspace_id": 1,
                "session_id": "webjs_1_1763264512_KUfMjqya",
                "message_id": MSG,
                "timestamp": CREATED,
                **data,
            },
        }
    )


@pytest.mark.parametrize(
    ("ack_level", "status"),
    [(-1, "failed"), (0, "pending"), (1, "sent"), (2, "delivered"), (3, "read"), (4, "played")],
)
def test_webjs_ack_level_is_the_true_whatsapp_web_js_ack(ack_level: int, status: str) -> None:
    event = _one(webjs.parse(_webjs_status(ack_level=ack_level, to="5511999999999@c.us"), NOW))
    assert (event.message_id, event.status, event.provider) == (MSG, status, "webjs")
    assert event.idempotency_key == f"webjs:{MSG}:{status}:"
    assert (event.recipient, event.received_at) == ("5511999999999@c.us", NOW)


@pytest.mark.parametrize(
    ("shifted", "status"),
    [
        ("pending", "sent"),
        ("sent", "delivered"),
        ("delivered", "read"),
        ("read", "played"),
        ("error", "failed"),
        ("failed", "failed"),
        ("DELIVERED", "read"),
    ],
)
def test_webjs_shifted_string_without_ack_level(shifted: str, status: str) -> None:
    assert _one(webjs.parse(_webjs_status(status=shifted), NOW)).status == status


@pytest.mark.parametrize(
    ("ack_level", "shifted", "status"),
    [
        (1, "pending", "sent"),
        (2, "sent", "delivered"),
        (3, "delivered", "read"),
        (4, "read", "played"),
    ],
)
def test_webjs_ack_level_wins_over_the_shifted_string(
    ack_level: int, shifted: str, status: str
) -> None:
    """What the Node service really sends: the integer and its off-by-one string."""
    assert (
        _one(webjs.parse(_webjs_status(ack_level=ack_level, status=shifted), NOW)).status == status
    )


@pytest.mark.parametrize(
    ("event", "status"), [("message_delivered", "delivered"), ("message_read", "read")]
)
def test_webjs_delivered_and_read_events_carry_no_level(event: str, status: str) -> None:
    """Posted on ack 3 and 4 beside message_status_updated: a lower bound of the same ack."""
    body = _webjs_status(event, recipient="5511999999999@c.us")
    found = _one(webjs.parse(body, NOW))
    assert (found.message_id, found.status, found.recipient) == (MSG, status, "5511999999999@c.us")


def test_webjs_timestamp_is_the_messages_creation_not_the_ack() -> None:
    for body in (
        _webjs_status(ack_level=3, status="delivered"),
        _webjs_status("message_read"),
        _dumps({"event": "message_ack", "data": RAW_ACK}),
    ):
        event = _one(webjs.parse(body, NOW))
        assert event.occurred_at is None  # the ack's time is when ingest received it
        assert event.received_at == NOW
        assert event.message_created_at == datetime.fromtimestamp(CREATED, UTC)
    iso = _one(webjs.parse(_webjs_status(ack_level=3, timestamp="2026-11-25T12:59:58.000Z"), NOW))
    assert iso.message_created_at == datetime(2026, 11, 25, 12, 59, 58, tzinfo=UTC)


def test_webjs_id_spellings() -> None:
    camel = _dumps({"event": "message_read", "data": {"messageId": "m2", "ack_level": 3}})
    assert _one(webjs.parse(camel, NOW)).message_id == "m2"


@pytest.mark.parametrize("name", sorted(webjs.OTHER_EVENTS | {"something_new"}))
def test_webjs_events_that_are_not_acks_are_ignored(name: str) -> None:
    body = _dumps({"event": name, "data": {"workspace_id": 1, "message": {"id": "x", "ack": 3}}})
    assert webjs.parse(body, NOW) == []
    # even one that also holds a raw ack's keys: the event's name decides
    assert webjs.parse(_dumps({"event": name, **RAW_ACK}), NOW) == []


RAW_ACK = {
    "message": {
        "id": {
            "fromMe": True,
            "remote": "5511999999999@c.us",
            "id": "3EB0C767D26A1D5D7A8F",
            "_serialized": MSG,
        },
        "ack": 1,
        "body": "Promo de novembro",
        "type": "chat",
        "timestamp": 1764075000,
        "from": "5511888888888@c.us",
        "to": "5511999999999@c.us",
        "fromMe": True,
    },
    "ack": 3,
}


def test_webjs_raw_message_ack_bare_and_wrapped() -> None:
    bare = _one(webjs.parse(_dumps(RAW_ACK), NOW))
    assert (bare.message_id, bare.status, bare.recipient) == (MSG, "read", "5511999999999@c.us")
    assert bare.occurred_at is None  # message.timestamp is the message's creation time
    wrapped = _one(webjs.parse(_dumps({"event": "message_ack", "data": RAW_ACK}), NOW))
    assert wrapped == bare


def test_webjs_raw_group_ack_keeps_the_participant() -> None:
    group = json.loads(json.dumps(RAW_ACK))
    group["message"]["id"]["participant"] = {
        "server": "c.us",
        "user": "5511777",
        "_serialized": "5511777@c.us",
    }
    group["message"]["to"] = "120363041967849074@g.us"
    event = _one(webjs.parse(_dumps(group), NOW))
    assert (event.participant, event.recipient) == ("5511777@c.us", "120363041967849074@g.us")
    assert event.idempotency_key == f"webjs:{MSG}:read:5511777@c.us"


@pytest.mark.parametrize(
    ("body", "field", "status"),
    [
        (_webjs_status(ack_level=7), "$.data.ack_level", 422),
        (_webjs_status(status="seen"), "$.data.status", 422),
        (_webjs_status(), "$.data.ack_level", 422),
        (_dumps({"event": "message_read", "data": {"ack_level": 3}}), "$.data.message_id", 422),
        (_dumps({"event": "message_read", "data": {"message_id": 5}}), "$.data.message_id", 422),
        (_dumps({"event": "message_read"}), "$.data", 422),
        (_dumps({"message": {"id": {}}, "ack": 1}), "$.message.id", 422),
        (_dumps({"foo": 1}), "$.event", 422),
        (b"{nope", "$", 400),
    ],
)
def test_webjs_refusals_name_the_field(body: bytes, field: str, status: int) -> None:
    with pytest.raises(BadInput) as caught:
        webjs.parse(body, NOW)
    assert (caught.value.field, caught.value.status) == (field, status)


# --------------------------------------------------------------------------- WAHA


def _waha(event: str = "message.ack", **payload: Any) -> bytes:
    return _dumps(
        {
            "id": "evt_01aaaaaaaaaaaaaaaaaaaaaaaa",
            "timestamp": 1764075600123,
            "event": event,
            "session": "default",
            "engine": "WEBJS",
            "payload": {
                "id": MSG,
                "from": "5511888888888@c.us",
                "to": "5511999999999@c.us",
                "fromMe": True,
                **payload,
            },
        }
    )


@pytest.mark.parametrize(
    ("ack", "name", "status"),
    [
        (-1, "ERROR", "failed"),
        (0, "PENDING", "pending"),
        (1, "SERVER", "sent"),
        (2, "DEVICE", "delivered"),
        (3, "READ", "read"),
        (4, "PLAYED", "played"),
    ],
)
def test_waha_ack_and_ack_name(ack: int, name: str, status: str) -> None:
    event = _one(waha.parse(_waha(ack=ack, ackName=name), NOW))
    assert (event.message_id, event.status, event.provider) == (MSG, status, "waha")
    assert event.occurred_at == datetime.fromtimestamp(1764075600.123, UTC)
    assert _one(waha.parse(_waha(ackName=name), NOW)).status == status


def test_waha_group_ack_per_participant() -> None:
    body = _waha(
        "message.ack.group",
        ack=3,
        ackName="READ",
        participant="5511777777777@c.us",
        to="120363041967849074@g.us",
    )
    event = _one(waha.parse(body, NOW))
    assert (event.status, event.participant) == ("read", "5511777777777@c.us")
    assert event.idempotency_key == f"waha:{MSG}:read:5511777777777@c.us"


def test_waha_other_events_and_refusals() -> None:
    assert waha.parse(_waha("message", body="hello"), NOW) == []
    assert (
        waha.parse(_dumps({"event": "session.status", "payload": {"status": "WORKING"}}), NOW) == []
    )
    with pytest.raises(BadInput) as caught:
        waha.parse(_waha(ack=9), NOW)
    assert caught.value.field == "$.payload.ack"
    with pytest.raises(BadInput) as caught:
        waha.parse(_waha(), NOW)
    assert caught.value.field == "$.payload.ack"
    with pytest.raises(BadInput) as caught:
        waha.parse(_dumps({"event": "message.ack"}), NOW)
    assert caught.value.field == "$.payload"


# --------------------------------------------------------------------------- Evolution


def _evolution(data: Any, event: str = "messages.update") -> bytes:
    return _dumps(
        {
            "event": event,
            "instance": "campanhas",
            "data": data,
            "destination": "https://ingest.example.com/webhooks/evolution",
            "date_time": "2026-11-25T10:00:00.000Z",
            "sender": "5511888888888@s.whatsapp.net",
            "server_url": "https://evolution.example.com",
            "apikey": "B6D711FCDE4D4FD5936544120E713976",
        }
    )


def _v2_update(status: str, key_id: str = "3EB0C767D26A1D5D7A8F") -> dict[str, Any]:
    return {
        "messageId": "cm3x0evolutiondbid",
        "keyId": key_id,
        "remoteJid": "5511999999999@s.whatsapp.net",
        "fromMe": True,
        "participant": None,
        "status": status,
        "instanceId": "af6c5b7c-ee27-4f94-9ea8-192393746ddd",
    }


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        ("PENDING", "pending"),
        ("SERVER_ACK", "sent"),
        ("SENT", "sent"),
        ("DELIVERY_ACK", "delivered"),
        ("DELIVERED", "delivered"),
        ("READ", "read"),
        ("PLAYED", "played"),
        ("ERROR", "failed"),
        ("FAILED", "failed"),
    ],
)
def test_evolution_both_vocabularies(raw: str, status: str) -> None:
    event = _one(evolution.parse(_evolution(_v2_update(raw)), NOW))
    assert (event.message_id, event.status, event.provider) == (
        "3EB0C767D26A1D5D7A8F",
        status,
        "evolution",
    )
    assert event.recipient == "5511999999999@s.whatsapp.net"
    assert event.occurred_at == datetime(2026, 11, 25, 10, 0, tzinfo=UTC)


def test_evolution_deleted_is_ignored_and_lists_and_v1_keys_are_read() -> None:
    assert evolution.parse(_evolution(_v2_update("DELETED")), NOW) == []
    mixed = [_v2_update("READ", "A"), _v2_update("DELETED", "B"), _v2_update("DELIVERY_ACK", "C")]
    assert [(e.message_id, e.status) for e in evolution.parse(_evolution(mixed), NOW)] == [
        ("A", "read"),
        ("C", "delivered"),
    ]
    v1 = {
        "key": {
            "remoteJid": "120363@g.us",
            "fromMe": True,
            "id": "BAE5",
            "participant": "5511777@s.whatsapp.net",
        },
        "update": {"status": "DELIVERY_ACK"},
    }
    event = _one(evolution.parse(_evolution(v1), NOW))
    assert (event.message_id, event.participant, event.status) == (
        "BAE5",
        "5511777@s.whatsapp.net",
        "delivered",
    )
    assert evolution.parse(_evolution({"key": {}}, event="messages.upsert"), NOW) == []


def test_evolution_refusals_name_the_field() -> None:
    with pytest.raises(BadInput) as caught:
        evolution.parse(_evolution([_v2_update("READ"), _v2_update("BOGUS")]), NOW)
    assert caught.value.field == "$.data[1].status"
    with pytest.raises(BadInput) as caught:
        evolution.parse(_evolution({"keyId": "X"}), NOW)
    assert caught.value.field == "$.data.status"
    with pytest.raises(BadInput) as caught:
        evolution.parse(_evolution({"status": "READ"}), NOW)
    assert caught.value.field == "$.data.keyId"


# --------------------------------------------------------------------------- Meta


def _meta_status(wamid: str, status: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": wamid,
        "status": status,
        "timestamp": "1764075600",
        "recipient_id": "5511999999999",
        "conversation": {"id": "CONVERSATION_ID", "origin": {"type": "marketing"}},
        "pricing": {"billable": True, "pricing_model": "CBP", "category": "marketing"},
        **extra,
    }


def _meta(*changes_per_entry: list[list[dict[str, Any]]]) -> bytes:
    return _dumps(
        {
            "object": "whatsapp_business_account",
            "entry": [
                {
                    "id": f"WABA{e}",
                    "changes": [
                        {
                            "field": "messages",
                            "value": {
                                "messaging_product": "whatsapp",
                                "metadata": {
                                    "display_phone_number": "15550001111",
                                    "phone_number_id": "106540352242922",
                                },
                                "statuses": statuses,
                            },
                        }
                        for statuses in changes
                    ],
                }
                for e, changes in enumerate(changes_per_entry)
            ],
        }
    )


def test_meta_every_entry_change_and_status() -> None:
    failed = _meta_status(
        "wamid.F",
        "failed",
        errors=[
            {
                "code": 131047,
                "title": "Re-engagement message",
                "message": "Re-engagement message",
                "error_data": {
                    "details": "Message failed to send because more than 24 hours have passed"
                },
            }
        ],
    )
    body = _meta(
        [
            [_meta_status("wamid.A", "sent"), _meta_status("wamid.A", "delivered")],
            [_meta_status("wamid.B", "read")],
        ],
        [[_meta_status("wamid.C", "played"), failed]],
    )
    events = meta.parse(body, NOW)
    assert [(e.message_id, e.status) for e in events] == [
        ("wamid.A", "sent"),
        ("wamid.A", "delivered"),
        ("wamid.B", "read"),
        ("wamid.C", "played"),
        ("wamid.F", "failed"),
    ]
    assert all(e.occurred_at == datetime.fromtimestamp(1764075600, UTC) for e in events)
    assert all(e.provider == "meta" and e.recipient == "5511999999999" for e in events)
    assert (events[-1].error_code, events[-1].error_title) == ("131047", "Re-engagement message")


def test_meta_incoming_messages_are_not_ours() -> None:
    incoming = _dumps(
        {
            "object": "whatsapp_business_account",
            "entry": [
                {
                    "id": "WABA",
                    "changes": [
                        {
                            "field": "messages",
                            "value": {
                                "messaging_product": "whatsapp",
                                "contacts": [
                                    {"profile": {"name": "Ana"}, "wa_id": "5511999999999"}
                                ],
                                "messages": [
                                    {"from": "5511999999999", "id": "wamid.IN", "type": "text"}
                                ],
                            },
                        }
                    ],
                }
            ],
        }
    )
    assert meta.parse(incoming, NOW) == []


def test_meta_refusals_name_the_field() -> None:
    with pytest.raises(BadInput) as caught:
        meta.parse(
            _meta([[_meta_status("wamid.A", "sent")]], [[_meta_status("wamid.B", "seen")]]), NOW
        )
    assert caught.value.field == "$.entry[1].changes[0].value.statuses[0].status"
    with pytest.raises(BadInput) as caught:
        meta.parse(_dumps({"object": "whatsapp_business_account"}), NOW)
    assert caught.value.field == "$"
    with pytest.raises(BadInput) as caught:
        meta.parse(_meta([[_meta_status("wamid.A", "sent", timestamp="tomorrow")]]), NOW)
    assert caught.value.field == "$.entry[0].changes[0].value.statuses[0].timestamp"


# --------------------------------------------------------------------------- Twilio


def _twilio(status: str, **extra: str) -> bytes:
    form = {
        "SmsSid": "SM5f5b6a1b7b2c4d6e8f9a0b1c2d3e4f50",
        "SmsStatus": status,
        "MessageStatus": status,
        "To": "whatsapp:+5511999999999",
        "MessageSid": "SM5f5b6a1b7b2c4d6e8f9a0b1c2d3e4f50",
        "AccountSid": "AC00000000000000000000000000000000",
        "From": "whatsapp:+14155238886",
        "ApiVersion": "2010-04-01",
        "ChannelToAddress": "+55119999XXXXX",
        **extra,
    }
    return urlencode(form).encode()


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        ("queued", "pending"),
        ("accepted", "pending"),
        ("sending", "pending"),
        ("scheduled", "pending"),
        ("sent", "sent"),
        ("delivered", "delivered"),
        ("read", "read"),
        ("failed", "failed"),
        ("undelivered", "failed"),
    ],
)
def test_twilio_statuses(raw: str, status: str) -> None:
    event = _one(twilio.parse(_twilio(raw), NOW))
    assert (event.message_id, event.status) == ("SM5f5b6a1b7b2c4d6e8f9a0b1c2d3e4f50", status)
    assert (event.recipient, event.occurred_at, event.provider) == (
        "+5511999999999",
        None,
        "twilio",
    )


def test_twilio_error_code_and_refusals() -> None:
    event = _one(
        twilio.parse(_twilio("undelivered", ErrorCode="63016", ErrorMessage="Outside window"), NOW)
    )
    assert (event.error_code, event.error_title) == ("63016", "Outside window")
    with pytest.raises(BadInput) as caught:
        twilio.parse(urlencode({"MessageStatus": "sent"}).encode(), NOW)
    assert caught.value.field == "MessageSid"
    with pytest.raises(BadInput) as caught:
        twilio.parse(_twilio("opened"), NOW)
    assert caught.value.field == "MessageStatus"
    with pytest.raises(BadInput) as caught:
        twilio.parse(b"\xff\xfe", NOW)
    assert caught.value.status == 400


# --------------------------------------------------------------------------- fuzzing

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "event",
                    "data",
                    "payload",
                    "message",
                    "ack",
                    "ack_level",
                    "status",
                    "id",
                    "entry",
                    "changes",
                    "value",
                    "statuses",
                    "timestamp",
                    "keyId",
                    "key",
                    "errors",
                    "_serialized",
                    "message_id",
                    "participant",
                    "update",
                    "date_time",
                    "code",
                ]
            )
            | st.text(max_size=8),
            children,
            max_size=6,
        )
    ),
    max_leaves=30,
)
ADAPTERS: list[Callable[[bytes, datetime], list[AckEvent]]] = [
    webjs.parse,
    waha.parse,
    evolution.parse,
    meta.parse,
    twilio.parse,
]


@given(
    value=JSON,
    event=st.sampled_from(["message.ack", "messages.update", "message_read", "message_ack", "x"]),
)
def test_no_json_body_breaks_an_adapter(value: Any, event: str) -> None:
    bodies = [
        json.dumps(value).encode(),
        json.dumps({"event": event, "data": value, "payload": value}).encode(),
    ]
    for parse in ADAPTERS:
        for body in bodies:
            try:
                events = parse(body, NOW)
            except BadInput as exc:
                assert exc.status in (400, 422) and exc.field
            else:
                assert all(isinstance(e, AckEvent) and e.message_id for e in events)


@given(body=st.binary(max_size=200))
def test_no_bytes_break_an_adapter(body: bytes) -> None:
    for parse in ADAPTERS:
        try:
            events = parse(body, NOW)
        except BadInput as exc:
            assert exc.status in (400, 422)
        else:
            assert all(isinstance(e, AckEvent) for e in events)

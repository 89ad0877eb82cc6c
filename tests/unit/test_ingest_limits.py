"""Nothing a sender writes makes a record larger than Kafka takes (docs/ingest.md, "Hardening"):
every text of every body, however long, is refused naming its field or cut; bodies nested too
deeply are refused; a dead letter fits in one record whatever it holds.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contract.events import encode
from ingest.dlq import MAX_HEADER_CHARS, dead_letter, readable
from ingest.limits import MAX_REASON_CHARS, MAX_RECORD_BYTES, MAX_SHORT_CHARS, clip
from ingest.payload import BadInput
from ingest.providers import api, evolution, meta, twilio, waha, webjs

NOW = datetime(2026, 11, 25, 13, 0, tzinfo=UTC)
LONG = "x" * 100_000
# an event of bounded fields: 12 texts of at most 512 characters, with room for JSON's escapes
MAX_EVENT_BYTES = 16_384

Parse = Callable[[bytes], list[Any]]

# Each provider's body with every field its adapter reads given a value.
SAMPLES: list[tuple[str, Parse, dict[str, Any]]] = [
    (
        "webjs status",
        lambda b: webjs.parse(b, NOW),
        {
            "event": "message_status_updated",
            "data": {
                **dict.fromkeys(("message_id", "messageId", "id", "to", "recipient"), "m"),
                **dict.fromkeys(("phone", "participant", "error"), "p"),
                "status": "sent",
                "ack_level": 2,
                "timestamp": "2026-11-25T12:00:00Z",
            },
        },
    ),
    (
        "webjs message_ack",
        lambda b: webjs.parse(b, NOW),
        {
            "event": "message_ack",
            "data": {
                "message": {
                    "id": {"_serialized": "s", "participant": {"_serialized": "p", "user": "u"}},
                    "to": "t",
                    "author": "a",
                },
                "ack": 3,
            },
        },
    ),
    (
        "webjs raw",
        lambda b: webjs.parse(b, NOW),
        {"message": {"id": {"_serialized": "s", "participant": "p"}, "to": "t"}, "ack": 3},
    ),
    (
        "waha",
        lambda b: waha.parse(b, NOW),
        {
            "event": "message.ack.group",
            "session": "default",
            "payload": {"id": "i", "ack": 2, "ackName": "DEVICE", "to": "t", "participant": "p"},
        },
    ),
    (
        "evolution",
        lambda b: evolution.parse(b, NOW),
        {
            "event": "messages.update",
            "instance": "i",
            "date_time": "2026-11-25T12:00:00Z",
            "data": [
                {
                    **dict.fromkeys(("keyId", "messageId", "remoteJid", "participant"), "k"),
                    "status": "READ",
                    "key": {"id": "i", "remoteJid": "r", "participant": "p"},
                    "update": {"status": "READ"},
                }
            ],
        },
    ),
    (
        "meta",
        lambda b: meta.parse(b, NOW),
        {
            "object": "whatsapp_business_account",
            "entry": [
                {
                    "id": "e",
                    "changes": [
                        {
                            "field": "messages",
                            "value": {
                                "messaging_product": "whatsapp",
                                "statuses": [
                                    {
                                        "id": "w",
                                        "status": "failed",
                                        "timestamp": "1764075000",
                                        "recipient_id": "r",
                                        "errors": [{"code": "c", "title": "t", "message": "m"}],
                                    }
                                ],
                            },
                        }
                    ],
                }
            ],
        },
    ),
    (
        "api event",
        lambda b: api.parse_events(b, NOW),
        {
            **dict.fromkeys(("message_id", "participant", "recipient", "error_title"), "m"),
            "status": "failed",
            "provider": "p",
            "error_code": "c",
        },
    ),
    (
        "api dispatch",
        lambda b: api.parse_dispatches(b, NOW),
        dict.fromkeys(("message_id", "campaign_id", "workspace_id", "recipient"), "d"),
    ),
    (
        "api skip",
        lambda b: api.parse_skips(b, NOW),
        dict.fromkeys(("campaign_id", "workspace_id", "recipient", "reason_code", "reason"), "s"),
    ),
    (
        "api campaign",
        lambda b: api.parse_campaigns(b, NOW),
        dict.fromkeys(("campaign_id", "workspace_id", "name", "uuid"), "c"),
    ),
]


def _text_paths(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(value, str):
        yield path
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _text_paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _text_paths(item, (*path, index))


def _with(value: Any, path: tuple[Any, ...], text: str) -> Any:
    if not path:
        return text
    copy = dict(value) if isinstance(value, dict) else list(value)
    copy[path[0]] = _with(value[path[0]], path[1:], text)
    return copy


def _json_path(path: tuple[Any, ...]) -> str:
    return "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)


CASES = [
    pytest.param(parse, _with(sample, path, LONG), _json_path(path), id=f"{name} {path}")
    for name, parse, sample in SAMPLES
    for path in _text_paths(sample)
]


def test_the_samples_are_accepted() -> None:
    for _, parse, sample in SAMPLES:
        assert parse(json.dumps(sample).encode())


@pytest.mark.parametrize(("parse", "body", "field"), CASES)
def test_a_long_text_anywhere_is_refused_by_name_or_kept_small(
    parse: Parse, body: dict[str, Any], field: str
) -> None:
    """Refused naming the field, or accepted as events small enough for any record (none for a
    long event name: an event that is not an ack), whichever text is 100,000 characters long."""
    try:
        events = parse(json.dumps(body).encode())
    except BadInput as refused:
        assert len(refused.reason) <= MAX_REASON_CHARS
        assert refused.field == field, refused.reason
        return
    assert all(len(encode(event)) <= MAX_EVENT_BYTES for event in events)


@pytest.mark.parametrize("name", ["To", "MessageSid", "ErrorCode", "ErrorMessage", "Other"])
def test_twilio_form_fields_are_bounded(name: str) -> None:
    form = {"MessageSid": "SM1", "MessageStatus": "failed", "To": "whatsapp:+1", name: LONG}
    try:
        events = twilio.parse(urlencode(form).encode(), NOW)
    except BadInput as refused:
        assert refused.field == name
        return
    assert all(len(encode(event)) <= MAX_EVENT_BYTES for event in events)


def test_an_identifier_at_the_limit_is_kept_whole() -> None:
    recipient = "5" * MAX_SHORT_CHARS
    body = {"event": "message.ack", "payload": {"id": "i", "ack": 3, "to": recipient}}
    (event,) = waha.parse(json.dumps(body).encode(), NOW)
    assert event.recipient == recipient
    with pytest.raises(BadInput) as refused:
        body["payload"]["to"] += "5"  # type: ignore[index]
        waha.parse(json.dumps(body).encode(), NOW)
    assert refused.value.field == "$.payload.to"


NESTED = "[" * 100_000 + "]" * 100_000


@pytest.mark.parametrize(("parse", "sample"), [(p, s) for _, p, s in SAMPLES])
def test_a_body_nested_too_deeply_is_a_bad_input(parse: Parse, sample: dict[str, Any]) -> None:
    body = json.dumps({**sample, "nested": "N"}).encode().replace(b'"N"', NESTED.encode())
    with pytest.raises(BadInput) as refused:
        parse(body)
    assert refused.value.status == 400
    assert "nested too deeply" in refused.value.reason


@given(st.text(max_size=50), st.integers(min_value=1, max_value=40))
def test_clip_keeps_short_text_and_cuts_long_text_visibly(text: str, limit: int) -> None:
    cut = clip(text, limit)
    assert len(cut) <= limit
    assert cut == text if len(text) <= limit else cut == text[: limit - 1] + "…"


def test_a_dead_letter_fits_in_one_record_whatever_it_holds() -> None:
    not_utf8 = b"\xff".decode("utf-8", "surrogateescape")
    huge = ("X-Huge", "h" * 8000 * 3)  # no room for it: left out, the others kept
    headers = [huge, *((f"X-H{i}", ("\x01" + not_utf8) * 400) for i in range(127))]
    body = bytes(range(256)) * 40_000  # 10 MB
    letter = dead_letter("/v1/events", "r" * 5_000_000, "$" * 10_000, 422, body, headers, NOW)
    encoded = encode(letter)
    assert MAX_RECORD_BYTES - 4 <= len(encoded) <= MAX_RECORD_BYTES  # filled with the body
    kept = base64.b64decode(letter.body_base64)
    assert body.startswith(kept) and letter.body_size == len(body)
    assert len(letter.reason) == len(letter.field) == MAX_REASON_CHARS
    assert sum(len(k) + len(v) for k, v in letter.headers.items()) <= MAX_HEADER_CHARS
    assert "x-huge" not in letter.headers
    assert letter.headers["x-h0"].startswith("\x01\\xff")


def test_a_small_dead_letter_keeps_everything_but_credentials() -> None:
    headers = [("Authorization", "Bearer t"), ("User-Agent", "node"), ("X-HMAC-Signature", "s")]
    letter = dead_letter("/webhooks/webjs", "why", "$.data", 422, b"{}", headers, NOW)
    assert base64.b64decode(letter.body_base64) == b"{}" and letter.body_size == 2
    assert letter.headers == {"user-agent": "node"}


def test_readable_writes_the_bytes_that_are_not_utf8() -> None:
    assert readable("naïve") == "naïve"
    assert readable(b"a\xffb".decode("utf-8", "surrogateescape")) == "a\\xffb"

"""Crafted bodies against the real ingest and broker: nested too deeply, a megabyte in one
field, counts beyond reason. Each is answered 4xx (or, for display text, cut and accepted),
never 5xx; a refused one lands in ``ingest-dlq`` within one Kafka message, and the requests
sharing its batching round are not harmed.
"""

from __future__ import annotations

import asyncio
import base64
from urllib.parse import urlencode

import pytest

from contract.events import AckEvent, decode_event_batch, decode_ingest_dead_letter
from contract.partitioning import partition_for
from contract.topics import Topics
from ingest.limits import MAX_DISPLAY_CHARS, MAX_RECORD_BYTES, MAX_TOTAL_RECIPIENTS
from tests.integration.ingest_support import (
    API,
    dumps,
    ingest_client,
    ingest_settings,
    meta_headers,
    read_topic,
    twilio_headers,
    waha_headers,
    webjs_headers,
)
from tickstream.simulator.webhooks import webjs_event

pytestmark = pytest.mark.integration

DEPTH = 100_000
MEGABYTE = 1_000_000  # within the default MAX_BODY_BYTES (1 MiB) with its envelope


def _nested(prefix: bytes) -> bytes:
    """``prefix`` followed by arrays nested ``DEPTH`` deep, then the object closed: valid JSON."""
    return prefix + b"[" * DEPTH + b"]" * DEPTH + b"}"


def _meta(status: dict[str, object]) -> bytes:
    return dumps({"entry": [{"changes": [{"value": {"statuses": [status]}}]}]})


def _events(bootstrap: str, topics: Topics) -> list[AckEvent]:
    found = []
    for _, _, value in read_topic(bootstrap, topics.ack_events):
        for event in decode_event_batch(value).events:
            assert isinstance(event, AckEvent)
            found.append(event)
    return found


async def test_a_body_nested_too_deeply_is_refused_with_a_dead_letter(
    kafka_bootstrap: str, topics: Topics
) -> None:
    settings = ingest_settings(kafka_bootstrap, topics.prefix, topics.partitions)
    webjs = _nested(b'{"event":"message_status_updated","data":{"message_id":"w","x":') + b"}"
    waha = _nested(b'{"event":"message.ack","payload":{"id":"a","ack":2,"x":') + b"}"
    evolution = _nested(b'{"event":"messages.update","data":{"keyId":"E","status":"READ","x":')
    evolution += b"}"
    meta = _nested(b'{"entry":[],"x":')
    api = _nested(b'{"message_id":"m","status":"sent","x":')
    requests = [
        ("/webhooks/webjs", webjs, webjs_headers(webjs)),
        ("/api/whatsapp/webhooks/webjs", webjs, webjs_headers(webjs)),
        ("/webhooks/waha", waha, waha_headers(waha)),
        ("/webhooks/evolution", evolution, {"Authorization": "Bearer evolution-token"}),
        ("/webhooks/meta", meta, meta_headers(meta)),
        ("/v1/events", api, API),
        ("/v1/dispatches", api, API),
        ("/v1/campaigns", api, API),
    ]
    async with ingest_client(settings) as client:
        for path, body, headers in requests:
            answer = await client.post(path, data=body, headers=headers)
            assert (path, answer.status) == (path, 400), await answer.text()
            problem = await answer.json()
            assert problem["error"] == "invalid body" and "nested too deeply" in problem["detail"]
    letters = [
        decode_ingest_dead_letter(v) for _, _, v in read_topic(kafka_bootstrap, topics.ingest_dlq)
    ]
    assert [(d.endpoint, d.status) for d in letters] == [(p, 400) for p, _, _ in requests]
    for letter, (_, body, _) in zip(letters, requests, strict=True):
        assert base64.b64decode(letter.body_base64) == body  # ~200 kB: kept whole
        assert letter.body_size == len(body)
        assert "nested too deeply" in letter.reason
    assert read_topic(kafka_bootstrap, topics.ack_events, timeout=5) == []


async def test_a_megabyte_identifier_is_refused_and_its_round_is_not_harmed(
    kafka_bootstrap: str, topics: Topics
) -> None:
    """Every request arrives within the round's linger, and the good acks hash to the crafted
    one's partition: produced as it came, the crafted event's record would be larger than Kafka
    takes and fail the partition's records, answering every one of them 503."""
    settings = ingest_settings(
        kafka_bootstrap,
        topics.prefix,
        topics.partitions,
        ingest_linger_ms=1000.0,
        ingest_min_linger_ms=1000.0,
    )
    crafted = webjs_event(
        "message_status_updated", {"message_id": "huge", "ack_level": 2, "to": "5" * MEGABYTE}
    )
    partition = partition_for("huge", topics.partitions)
    good_ids = [f"good{i}" for i in range(200)]
    good_ids = [i for i in good_ids if partition_for(i, topics.partitions) == partition][:20]
    good = [
        webjs_event("message_status_updated", {"message_id": i, "ack_level": 3}) for i in good_ids
    ]
    async with ingest_client(settings) as client:

        async def post(body: bytes) -> tuple[int, dict[str, object]]:
            answer = await client.post("/webhooks/webjs", data=body, headers=webjs_headers(body))
            return answer.status, await answer.json()

        answers = await asyncio.gather(post(crafted), *(post(body) for body in good))
    (refused_status, refused), *accepted = answers
    assert accepted == [(200, {"accepted": 1})] * len(good)
    assert refused_status == 422, refused
    assert refused["field"] == "$.data.to"
    assert sorted(e.message_id for e in _events(kafka_bootstrap, topics)) == sorted(good_ids)
    ((_, _, value),) = read_topic(kafka_bootstrap, topics.ingest_dlq)
    assert len(value) <= MAX_RECORD_BYTES  # a 1 MB body is 1.33 MB in base64: cut to fit
    letter = decode_ingest_dead_letter(value)
    kept = base64.b64decode(letter.body_base64)
    assert letter.body_size == len(crafted) > len(kept) > MAX_RECORD_BYTES // 2
    assert crafted.startswith(kept)
    assert (letter.field, letter.status) == ("$.data.to", 422)


async def test_megabyte_display_text_is_cut_and_the_ack_lands(
    kafka_bootstrap: str, topics: Topics
) -> None:
    settings = ingest_settings(kafka_bootstrap, topics.prefix, topics.partitions)
    long_text = "e" * MEGABYTE
    webjs = webjs_event(
        "message_status_updated", {"message_id": "wj", "ack_level": -1, "error": long_text}
    )
    meta = _meta(
        {
            "id": "wamid.M",
            "status": "failed",
            "errors": [{"code": "c" * 10_000, "title": long_text}],
        }
    )
    form = {"MessageSid": "SM1", "MessageStatus": "failed", "ErrorMessage": long_text}
    twilio_form = {**twilio_headers(form), "Content-Type": "application/x-www-form-urlencoded"}
    async with ingest_client(settings) as client:
        for path, body, headers in [
            ("/webhooks/webjs", webjs, webjs_headers(webjs)),
            ("/webhooks/meta", meta, meta_headers(meta)),
            ("/webhooks/twilio", urlencode(form).encode(), twilio_form),
        ]:
            answer = await client.post(path, data=body, headers=headers)
            assert (path, answer.status) == (path, 200), await answer.text()
    landed = {e.message_id: e for e in _events(kafka_bootstrap, topics)}
    assert set(landed) == {"wj", "wamid.M", "SM1"}
    cut = long_text[: MAX_DISPLAY_CHARS - 1] + "…"
    assert {e.error_title for e in landed.values()} == {cut}
    assert landed["wamid.M"].error_code == "c" * (MAX_DISPLAY_CHARS - 1) + "…"
    assert all(e.status == "failed" for e in landed.values())
    assert read_topic(kafka_bootstrap, topics.ingest_dlq, timeout=5) == []


async def test_identifiers_of_every_provider_are_bounded(
    kafka_bootstrap: str, topics: Topics
) -> None:
    settings = ingest_settings(kafka_bootstrap, topics.prefix, topics.partitions)
    long_id = "1" * MEGABYTE
    waha = dumps(
        {"event": "message.ack.group", "payload": {"id": "a", "ack": 3, "participant": long_id}}
    )
    evolution = dumps(
        {"event": "messages.update", "data": {"keyId": "E", "status": "READ", "remoteJid": long_id}}
    )
    meta = _meta({"id": "w", "status": "read", "recipient_id": long_id})
    form = {"MessageSid": "SM2", "MessageStatus": "read", "To": long_id}
    twilio_form = {**twilio_headers(form), "Content-Type": "application/x-www-form-urlencoded"}
    message_id = dumps({"message_id": long_id, "status": "sent"})
    requests = [
        ("/webhooks/waha", waha, waha_headers(waha), "$.payload.participant"),
        (
            "/webhooks/evolution",
            evolution,
            {"Authorization": "Bearer evolution-token"},
            "$.data.remoteJid",
        ),
        (
            "/webhooks/meta",
            meta,
            meta_headers(meta),
            "$.entry[0].changes[0].value.statuses[0].recipient_id",
        ),
        ("/webhooks/twilio", urlencode(form).encode(), twilio_form, "To"),
        ("/v1/events", message_id, API, "$.message_id"),
    ]
    async with ingest_client(settings) as client:
        for path, body, headers, field in requests:
            answer = await client.post(path, data=body, headers=headers)
            assert (path, answer.status) == (path, 422), await answer.text()
            assert (await answer.json())["field"] == field
    letters = [
        decode_ingest_dead_letter(v) for _, _, v in read_topic(kafka_bootstrap, topics.ingest_dlq)
    ]
    assert [(d.endpoint, d.field) for d in letters] == [(p, f) for p, _, _, f in requests]
    assert read_topic(kafka_bootstrap, topics.ack_events, timeout=5) == []


async def test_total_recipients_has_a_maximum(kafka_bootstrap: str, topics: Topics) -> None:
    settings = ingest_settings(kafka_bootstrap, topics.prefix, topics.partitions)
    campaign = {"campaign_id": "c1", "workspace_id": "w1"}
    async with ingest_client(settings) as client:
        for total, expected in [
            (MAX_TOTAL_RECIPIENTS, 200),
            (MAX_TOTAL_RECIPIENTS + 1, 422),
            (10**30, 422),
            (1e300, 422),
        ]:
            body = dumps({**campaign, "total_recipients": total})
            answer = await client.post("/v1/campaigns", data=body, headers=API)
            assert (total, answer.status) == (total, expected), await answer.text()
            if expected == 422:
                assert (await answer.json())["field"] == "$.total_recipients"
    assert len(read_topic(kafka_bootstrap, topics.campaign_events)) == 1

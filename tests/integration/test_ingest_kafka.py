"""Ingest against the real broker: what lands where, what is refused, what goes to the DLQ."""

from __future__ import annotations

import base64
import time
from urllib.parse import urlencode

import pytest

from contract.events import (
    AckEvent,
    Dispatch,
    MessageEvent,
    Skip,
    decode_campaign_event,
    decode_event_batch,
    decode_ingest_dead_letter,
    skip_message_id,
)
from contract.partitioning import partition_for
from contract.topics import Topics
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


def _events_on(bootstrap: str, topics: Topics) -> list[tuple[int, str, MessageEvent]]:
    """(partition, record key, event) of every event on ack-events, checking the packing rule."""
    found = []
    for partition, key, value in read_topic(bootstrap, topics.ack_events):
        batch = decode_event_batch(value)
        assert batch.events, "an empty batch record"
        assert key == batch.events[0].message_id
        assert partition == partition_for(key, topics.partitions)
        for event in batch.events:
            assert partition_for(event.message_id, topics.partitions) == partition
            found.append((partition, key, event))
    return found


async def test_bulk_events_land_packed_by_partition(kafka_bootstrap: str, topics: Topics) -> None:
    settings = ingest_settings(kafka_bootstrap, topics.prefix, topics.partitions)
    events = [
        {"message_id": f"m{i}", "status": ["sent", "delivered", "read"][i % 3], "provider": "api"}
        for i in range(300)
    ]
    ndjson = b"\n".join(dumps(e) for e in events[200:])
    async with ingest_client(settings) as client:
        first = await client.post("/v1/events", data=dumps(events[:200]), headers=API)
        assert first.status == 200, await first.text()
        assert await first.json() == {"accepted": 200}
        second = await client.post(
            "/v1/events",
            data=ndjson,
            headers={**API, "Content-Type": "application/x-ndjson"},
        )
        assert (second.status, await second.json()) == (200, {"accepted": 100})
    landed = _events_on(kafka_bootstrap, topics)
    by_id = {event.message_id: event for _, _, event in landed}
    assert len(landed) == 300 and set(by_id) == {e["message_id"] for e in events}
    m7 = by_id["m7"]
    assert isinstance(m7, AckEvent)
    assert (m7.status, m7.idempotency_key) == ("delivered", "api:m7:delivered:")
    assert m7.received_at.tzinfo is not None
    assert len({p for p, _, _ in landed}) == topics.partitions  # 300 ids spread over all


async def test_dispatches_and_campaigns(kafka_bootstrap: str, topics: Topics) -> None:
    settings = ingest_settings(kafka_bootstrap, topics.prefix, topics.partitions)
    dispatches = [
        {"message_id": f"d{i}", "campaign_id": "c1", "workspace_id": "w1", "recipient": f"+{i}"}
        for i in range(20)
    ]
    campaigns = [
        {"campaign_id": f"c{i}", "workspace_id": "w1", "name": f"C{i}", "total_recipients": 20}
        for i in range(5)
    ]
    async with ingest_client(settings) as client:
        answer = await client.post("/v1/dispatches", data=dumps(dispatches), headers=API)
        assert (answer.status, await answer.json()) == (200, {"accepted": 20})
        answer = await client.post("/v1/campaigns", data=dumps(campaigns), headers=API)
        assert (answer.status, await answer.json()) == (200, {"accepted": 5})
    landed = [event for _, _, event in _events_on(kafka_bootstrap, topics)]
    assert all(isinstance(e, Dispatch) and e.received_at for e in landed)
    assert {e.message_id for e in landed} == {d["message_id"] for d in dispatches}
    registered = read_topic(kafka_bootstrap, topics.campaign_events)
    assert len(registered) == 5
    for partition, key, value in registered:
        campaign = decode_campaign_event(value)
        assert key == campaign.campaign_id
        assert partition == partition_for(key, topics.partitions)
        assert campaign.total_recipients == 20


async def test_skips_land_on_ack_events_at_their_recipients_partition(
    kafka_bootstrap: str, topics: Topics
) -> None:
    settings = ingest_settings(kafka_bootstrap, topics.prefix, topics.partitions)
    skips = [
        {
            "campaign_id": "c9",
            "workspace_id": "w1",
            "recipient": f"+55119{i:04d}",
            "reason_code": "opted_out" if i % 2 else "no_whatsapp",
            "reason": f"reason {i}",
        }
        for i in range(40)
    ]
    ndjson = b"\n".join(dumps(s) for s in skips[30:])
    async with ingest_client(settings) as client:
        answer = await client.post("/v1/skips", data=dumps(skips[:30]), headers=API)
        assert (answer.status, await answer.json()) == (200, {"accepted": 30})
        answer = await client.post(
            "/v1/skips", data=ndjson, headers={**API, "Content-Type": "application/x-ndjson"}
        )
        assert (answer.status, await answer.json()) == (200, {"accepted": 10})
        refused = await client.post("/v1/skips", data=dumps({**skips[0], "recipient": ""}))
        assert refused.status == 401  # no token: nothing produced
        refused = await client.post(
            "/v1/skips", data=dumps([skips[0], {**skips[1], "recipient": ""}]), headers=API
        )
        assert refused.status == 422
        assert (await refused.json())["field"] == "$[1].recipient"
        metrics = await (await client.get("/metrics")).text()
    landed = _events_on(kafka_bootstrap, topics)  # checks partition_for(every event's id)
    assert all(isinstance(e, Skip) for _, _, e in landed)
    by_id = {e.message_id: (p, e) for p, _, e in landed}
    assert len(landed) == 40  # the refused request produced nothing
    for given in skips:
        skip_id = skip_message_id(given["campaign_id"], given["recipient"])
        partition, skip = by_id[skip_id]
        assert partition == partition_for(skip_id, topics.partitions)
        assert isinstance(skip, Skip) and skip.received_at.tzinfo is not None
        assert (skip.recipient, skip.reason_code, skip.reason) == (
            given["recipient"],
            given["reason_code"],
            given["reason"],
        )
    assert 'tickstream_ingest_events_accepted_total{provider="api",status="skip"} 40.0' in metrics
    letters = [
        decode_ingest_dead_letter(v) for _, _, v in read_topic(kafka_bootstrap, topics.ingest_dlq)
    ]
    assert [(d.endpoint, d.field) for d in letters] == [("/v1/skips", "$[1].recipient")]


async def test_every_webhook_lands_and_bad_signatures_do_not(
    kafka_bootstrap: str, topics: Topics
) -> None:
    settings = ingest_settings(kafka_bootstrap, topics.prefix, topics.partitions)
    webjs = webjs_event(
        "message_status_updated",
        {"message_id": "wj1", "status": "delivered", "ack_level": 3, "timestamp": 1732500000},
    )
    waha = dumps(
        {
            "event": "message.ack",
            "session": "default",
            "timestamp": 1732500000123,
            "payload": {"id": "true_1@c.us_AAA", "ack": 2, "ackName": "DEVICE"},
        }
    )
    meta = dumps(
        {
            "object": "whatsapp_business_account",
            "entry": [
                {
                    "id": "1",
                    "changes": [
                        {
                            "field": "messages",
                            "value": {
                                "statuses": [
                                    {"id": "wamid.A", "status": "read", "timestamp": "1732500000"}
                                ]
                            },
                        }
                    ],
                }
            ],
        }
    )
    evolution = dumps(
        {"event": "messages.update", "data": {"keyId": "EV1", "status": "DELIVERY_ACK"}}
    )
    form = {"MessageSid": "SM1", "MessageStatus": "delivered", "To": "whatsapp:+1555"}
    async with ingest_client(settings) as client:
        signed = [
            ("/webhooks/webjs", webjs, webjs_headers(webjs)),
            ("/webhooks/waha", waha, waha_headers(waha)),
            ("/webhooks/meta", meta, meta_headers(meta)),
        ]
        for path, body, headers in signed:
            answer = await client.post(path, data=body, headers=headers)
            assert (path, answer.status) == (path, 200), await answer.text()
            forged = await client.post(path, data=body.replace(b"}", b" }", 1), headers=headers)
            assert (path, forged.status) == (path, 401)
        token = {"Authorization": "Bearer evolution-token"}
        answer = await client.post("/webhooks/evolution", data=evolution, headers=token)
        assert answer.status == 200, await answer.text()
        wrong = {"Authorization": "Bearer not-the-token"}
        forged = await client.post("/webhooks/evolution", data=evolution, headers=wrong)
        assert forged.status == 401
        twilio = await client.post(
            "/webhooks/twilio",
            data=urlencode(form),
            headers={
                **twilio_headers(form),
                "Content-Type": "application/x-www-form-urlencoded",
            },
        )
        assert twilio.status == 200, await twilio.text()
        metrics = await (await client.get("/metrics")).text()
    landed = {e.message_id: e for _, _, e in _events_on(kafka_bootstrap, topics)}
    assert {k: (v.provider, v.status) for k, v in landed.items()} == {  # type: ignore[union-attr]
        "wj1": ("webjs", "read"),
        "true_1@c.us_AAA": ("waha", "delivered"),
        "wamid.A": ("meta", "read"),
        "EV1": ("evolution", "delivered"),
        "SM1": ("twilio", "delivered"),
    }
    assert 'tickstream_ingest_events_accepted_total{provider="meta",status="read"} 1.0' in metrics
    assert 'tickstream_ingest_rejections_total{reason="unauthorized"} 4.0' in metrics


async def test_malformed_bodies_get_4xx_and_a_dead_letter(
    kafka_bootstrap: str, topics: Topics
) -> None:
    settings = ingest_settings(kafka_bootstrap, topics.prefix, topics.partitions)
    wrong_type = b'[{"message_id": "m1", "status": "sent"}, {"message_id": "m2", "status": 7}]'
    not_json = b'{"message_id": "m3", "status": '
    unknown = dumps({"event": "messages.update", "data": {"keyId": "E", "status": "BOGUS"}})
    async with ingest_client(settings) as client:
        answer = await client.post(
            "/v1/events", data=wrong_type, headers={**API, "Cookie": "session=1"}
        )
        assert answer.status == 422
        problem = await answer.json()
        assert problem["field"] == "$[1].status"
        answer = await client.post("/v1/events", data=not_json, headers=API)
        assert answer.status == 400
        answer = await client.post(
            "/webhooks/evolution",
            data=unknown,
            headers={"Authorization": "Bearer evolution-token"},
        )
        assert answer.status == 422
        assert (await answer.json())["field"] == "$.data.status"
    letters = [
        decode_ingest_dead_letter(v) for _, _, v in read_topic(kafka_bootstrap, topics.ingest_dlq)
    ]
    assert [base64.b64decode(d.body_base64) for d in letters] == [wrong_type, not_json, unknown]
    assert [d.status for d in letters] == [422, 400, 422]
    assert letters[0].endpoint == "/v1/events" and letters[0].field == "$[1].status"
    for letter in letters:
        assert "authorization" not in letter.headers and "cookie" not in letter.headers
        assert letter.reason
    # nothing of a refused request reached ack-events, not even its valid first event
    assert read_topic(kafka_bootstrap, topics.ack_events, timeout=5) == []


async def test_refusals_without_kafka_work(kafka_bootstrap: str, topics: Topics) -> None:
    settings = ingest_settings(
        kafka_bootstrap, topics.prefix, topics.partitions, max_body_bytes=1000, waha_hmac_key=""
    )
    async with ingest_client(settings) as client:
        big = await client.post("/v1/events", data=b"[" + b" " * 2000 + b"]", headers=API)
        assert big.status == 413 and (await big.json())["error"] == "body too large"
        missing = await client.post("/v1/events", data=b"[]")
        assert missing.status == 401
        assert missing.headers["WWW-Authenticate"].startswith("Bearer")
        wrong = await client.post("/v1/events", data=b"[]", headers={"Authorization": "Bearer x"})
        assert wrong.status == 401
        unset = await client.post("/webhooks/waha", data=b"{}")
        assert unset.status == 403
        assert (await unset.json())["setting"] == "WAHA_HMAC_KEY"
        ready = await client.get("/readyz")
        assert ready.status == 200 and (await ready.json())["brokers"] == 1
        assert (await client.get("/healthz")).status == 200
        document = await (await client.get("/openapi.json")).json()
        assert document["openapi"].startswith("3.")
        assert {"/v1/events", "/webhooks/meta", "/webhooks/twilio"} <= set(document["paths"])
        # a body that cannot even be read (bad gzip) is a 400, not a 500
        headers = {**API, "Content-Encoding": "gzip"}
        garbled = await client.post("/v1/events", data=b"not gzip", headers=headers)
        assert garbled.status == 400 and (await garbled.json())["field"] == "$"


async def test_meta_verify_handshake(kafka_bootstrap: str, topics: Topics) -> None:
    settings = ingest_settings(kafka_bootstrap, topics.prefix, topics.partitions)
    query = {"hub.mode": "subscribe", "hub.verify_token": "meta-verify", "hub.challenge": "1158"}
    async with ingest_client(settings) as client:
        ok = await client.get("/webhooks/meta", params=query)
        assert (ok.status, await ok.text()) == (200, "1158")
        wrong = await client.get("/webhooks/meta", params={**query, "hub.verify_token": "no"})
        assert wrong.status == 403
        mode = await client.get("/webhooks/meta", params={**query, "hub.mode": "unsubscribe"})
        assert mode.status == 400
    unset = ingest_settings(kafka_bootstrap, topics.prefix, topics.partitions, meta_verify_token="")
    async with ingest_client(unset) as client:
        refused = await client.get("/webhooks/meta", params=query)
        assert refused.status == 403
        assert (await refused.json())["setting"] == "META_VERIFY_TOKEN"


async def test_webjs_signature_older_than_300_s_is_refused(
    kafka_bootstrap: str, topics: Topics
) -> None:
    settings = ingest_settings(kafka_bootstrap, topics.prefix, topics.partitions)
    body = webjs_event(
        "message_delivered",
        {"message_id": "old", "recipient": "5511@c.us", "timestamp": 1732500000},
    )
    async with ingest_client(settings) as client:
        stale = await client.post(
            "/webhooks/webjs", data=body, headers=webjs_headers(body, at=time.time() - 301)
        )
        assert stale.status == 401
        assert "300" in (await stale.json())["detail"]
        fresh = await client.post(
            "/webhooks/webjs", data=body, headers=webjs_headers(body, at=time.time() - 290)
        )
        assert fresh.status == 200
    assert [e.message_id for _, _, e in _events_on(kafka_bootstrap, topics)] == ["old"]

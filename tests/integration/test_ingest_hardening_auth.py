"""Crafted credentials against the real ingest: a byte that is not UTF-8 in any credential
header, and a JWT that never expires, are refused (401/403), never a 5xx, and nothing lands.
"""

from __future__ import annotations

import json
import time
from urllib.parse import urlencode

import pytest

from contract.events import decode_ingest_dead_letter
from contract.topics import Topics
from tests.integration.ingest_support import (
    SECRETS,
    dumps,
    hs256_jwt,
    ingest_client,
    ingest_settings,
    raw_request,
    read_topic,
    waha_headers,
    webjs_headers,
)
from tickstream.simulator.webhooks import webjs_event

pytestmark = pytest.mark.integration

EVENT = dumps({"message_id": "m1", "status": "sent"})
WEBJS = webjs_event("message_delivered", {"message_id": "wj1", "recipient": "5511@c.us"})
WAHA = dumps({"event": "message.ack", "payload": {"id": "wa1", "ack": 2}})
EVOLUTION = dumps({"event": "messages.update", "data": {"keyId": "EV1", "status": "DELIVERY_ACK"}})
META = dumps({"entry": [{"changes": [{"value": {"statuses": [{"id": "w1", "status": "read"}]}}]}]})
TWILIO = urlencode({"MessageSid": "SM1", "MessageStatus": "delivered"}).encode()
FORM = ("Content-Type", b"application/x-www-form-urlencoded")

# (what is crafted, target, headers, body): each header holds the raw byte 0xff
CRAFTED = [
    ("api token", b"/v1/events", [("Authorization", b"Bearer \xff")], EVENT),
    ("sender key", b"/v1/events", [("Authorization", b"Bearer tsk_\xff_\xff")], EVENT),
    ("api scheme", b"/v1/events", [("Authorization", b"\xff api-token")], EVENT),
    (
        "webjs signature",
        b"/webhooks/webjs",
        [("X-Timestamp", str(int(time.time())).encode()), ("X-HMAC-Signature", b"\xff")],
        WEBJS,
    ),
    (
        "webjs timestamp",
        b"/api/whatsapp/webhooks/webjs",
        [("X-Timestamp", b"\xff"), ("X-HMAC-Signature", b"00")],
        WEBJS,
    ),
    ("waha signature", b"/webhooks/waha", [("X-Webhook-Hmac", b"\xff")], WAHA),
    (
        "waha algorithm",
        b"/webhooks/waha",
        [
            ("X-Webhook-Hmac", waha_headers(WAHA)["X-Webhook-Hmac"].encode()),
            ("X-Webhook-Hmac-Algorithm", b"sha\xff"),
        ],
        WAHA,
    ),
    ("evolution token", b"/webhooks/evolution", [("Authorization", b"Bearer \xff")], EVOLUTION),
    (
        "evolution jwt",
        b"/webhooks/evolution",
        [("Authorization", b"Bearer \xff.\xff.\xff")],
        EVOLUTION,
    ),
    ("meta signature", b"/webhooks/meta", [("X-Hub-Signature-256", b"sha256=\xff")], META),
    ("twilio signature", b"/webhooks/twilio", [("X-Twilio-Signature", b"\xff"), FORM], TWILIO),
    ("twilio url", b"/webhooks/twilio?x=%ff", [("X-Twilio-Signature", b"AA=="), FORM], TWILIO),
]


async def test_a_credential_header_that_is_not_utf8_is_refused(
    kafka_bootstrap: str, topics: Topics
) -> None:
    settings = ingest_settings(kafka_bootstrap, topics.prefix, topics.partitions)
    async with ingest_client(settings) as client:
        port = client.server.port
        assert port is not None
        for crafted, target, headers, body in CRAFTED:
            status, answer = await raw_request(port, "POST", target, headers, body)
            assert (crafted, status) == (crafted, 401), answer[:500]
            assert json.loads(answer)["error"] == "unauthorized"
        verify = b"/webhooks/meta?hub.mode=subscribe&hub.verify_token=%ff&hub.challenge=1"
        status, answer = await raw_request(port, "GET", verify, [])
        assert status == 403, answer[:500]
        metrics = await (await client.get("/metrics")).text()
    refused = len(CRAFTED) + 1  # and the verify token
    assert f'tickstream_ingest_rejections_total{{reason="unauthorized"}} {refused}.0' in metrics
    assert read_topic(kafka_bootstrap, topics.ack_events, timeout=5) == []
    assert read_topic(kafka_bootstrap, topics.ingest_dlq, timeout=5) == []


async def test_a_dead_letter_keeps_a_header_that_is_not_utf8_readable(
    kafka_bootstrap: str, topics: Topics
) -> None:
    """An authentic body that is refused, with a byte 0xff in a header that is no credential."""
    settings = ingest_settings(kafka_bootstrap, topics.prefix, topics.partitions)
    body = webjs_event("message_status_updated", {"message_id": "wj2", "ack_level": 99})
    signed = [(name, value.encode()) for name, value in webjs_headers(body).items()]
    async with ingest_client(settings) as client:
        port = client.server.port
        assert port is not None
        status, answer = await raw_request(
            port, "POST", b"/webhooks/webjs", [*signed, ("User-Agent", b"node \xff")], body
        )
    assert status == 422, answer[:500]
    assert json.loads(answer)["field"] == "$.data.ack_level"
    (letter,) = [
        decode_ingest_dead_letter(v) for _, _, v in read_topic(kafka_bootstrap, topics.ingest_dlq)
    ]
    assert letter.headers["user-agent"] == "node \\xff"
    assert "x-hmac-signature" not in letter.headers


async def test_evolution_jwts_must_expire(kafka_bootstrap: str, topics: Topics) -> None:
    settings = ingest_settings(kafka_bootstrap, topics.prefix, topics.partitions)
    key = SECRETS["evolution_token"]
    now = time.time()
    valid = {"app": "evolution", "iat": int(now), "exp": int(now) + 600}
    cases = [
        ({"app": "evolution", "iat": int(now)}, 401),  # no exp: would be good forever
        ({**valid, "exp": int(now) - 3600}, 401),
        ({**valid, "exp": "never"}, 401),
        ({**valid, "exp": 1e400}, 401),  # sent as Infinity, which Python reads
        (valid, 200),
    ]
    async with ingest_client(settings) as client:
        for claims, expected in cases:
            token = {"Authorization": f"Bearer {hs256_jwt(claims, key)}"}
            answer = await client.post("/webhooks/evolution", data=EVOLUTION, headers=token)
            assert (claims, answer.status) == (claims, expected), await answer.text()
    landed = read_topic(kafka_bootstrap, topics.ack_events)
    assert len(landed) == 1  # only the request with the valid token

"""The unchanged whatsapp-web.js Node service against ingest and the real broker: every event
kind it posts is answered 2xx, nothing is refused or dead-lettered, exactly its acks land, and an
ack's time is when ingest received it, not when the message was created."""

from __future__ import annotations

import io
import random
from datetime import UTC, datetime, timedelta

import pytest

from contract.events import AckEvent, decode_event_batch
from contract.topics import Topics
from ingest.providers.webjs import OTHER_EVENTS
from tests.integration.ingest_support import (
    ingest_client,
    ingest_settings,
    read_topic,
    webjs_headers,
)
from tickstream.simulator.webhooks import (
    BUILDERS,
    StatusReport,
    webjs_event,
    webjs_message_sent,
    webjs_reply,
    webjs_session_end,
    webjs_session_events,
)

pytestmark = pytest.mark.integration

NODE_PATH = "/api/whatsapp/webhooks/webjs"
MESSAGE = "true_5511999990001@c.us_3EB0AAAA"
PHONE = "5511999990001"


def _acks_on(bootstrap: str, topics: Topics) -> list[AckEvent]:
    return [
        event
        for _, _, value in read_topic(bootstrap, topics.ack_events)
        for event in decode_event_batch(value).events
        if isinstance(event, AckEvent)
    ]


async def test_every_event_kind_is_answered_2xx_and_only_acks_land(
    kafka_bootstrap: str, topics: Topics
) -> None:
    settings = ingest_settings(kafka_bootstrap, topics.prefix, topics.partitions)
    rng = random.Random(7)
    created = datetime.now(UTC) - timedelta(hours=1)  # sent an hour ago, read now
    acks = [
        body
        for status in ("sent", "delivered", "read", "played")
        for _, body in BUILDERS["webjs"](
            rng, StatusReport(MESSAGE, PHONE, status, datetime.now(UTC), created)
        )
    ]
    others = [
        *webjs_session_events(rng),
        webjs_message_sent(MESSAGE, PHONE, created),
        *webjs_reply(rng, PHONE, datetime.now(UTC), 0),
        *webjs_reply(rng, PHONE, datetime.now(UTC), 5 * 1024 * 1024),  # a video: > 5 MiB
        webjs_event("session_error", {"error": "webhook_send_failed", "message": "…"}),
        webjs_event("something_the_next_version_adds", {"x": 1}),
        webjs_session_end(),
    ]
    assert max(len(body) for body in others) > 5 * settings.max_body_bytes
    before = datetime.now(UTC)
    async with ingest_client(settings) as client:
        for path, body in [(NODE_PATH, b) for b in acks + others] + [("/webhooks/webjs", acks[0])]:
            answer = await client.post(path, data=io.BytesIO(body), headers=webjs_headers(body))
            assert answer.status == 200, await answer.text()
            expected = 0 if body in others else 1
            assert await answer.json() == {"accepted": expected}
        metrics = await (await client.get("/metrics")).text()
    after = datetime.now(UTC)

    landed = _acks_on(kafka_bootstrap, topics)
    # ack 3 brings message_status_updated (read) and message_delivered; ack 4 played and read
    assert sorted(e.status for e in landed) == sorted(
        ["sent", "sent", "delivered", "read", "delivered", "played", "read"]
    )
    for event in landed:
        assert (event.message_id, event.provider) == (MESSAGE, "webjs")
        assert event.occurred_at is None and before <= event.received_at <= after
        assert event.message_created_at == created.replace(microsecond=0)
    assert "tickstream_ingest_rejections_total{" not in metrics
    for name in (*OTHER_EVENTS, "other"):
        count = (
            2.0 if name in ("message_received", "typing_indicator", "chat_state_updated") else 1.0
        )
        assert f'tickstream_ingest_webjs_ignored_total{{event="{name}"}} {count}' in metrics
    assert read_topic(kafka_bootstrap, topics.ingest_dlq, timeout=5) == []


async def test_forged_or_oversized_bodies_are_still_refused(
    kafka_bootstrap: str, topics: Topics
) -> None:
    settings = ingest_settings(
        kafka_bootstrap, topics.prefix, topics.partitions, webjs_max_ignored_body_bytes=3_000_000
    )
    rng = random.Random(8)
    video = webjs_reply(rng, PHONE, datetime.now(UTC), 2_000_000)[-1]
    too_big = webjs_reply(rng, PHONE, datetime.now(UTC), 4_000_000)[-1]
    huge_ack = webjs_event(
        "message_status_updated",
        {"message_id": MESSAGE, "ack_level": 3, "padding": "x" * settings.max_body_bytes},
    )
    async with ingest_client(settings) as client:
        forged = await client.post(
            NODE_PATH, data=io.BytesIO(video), headers=webjs_headers(video, secret="not-the-secret")
        )
        assert forged.status == 401
        big = await client.post(NODE_PATH, data=io.BytesIO(too_big), headers=webjs_headers(too_big))
        assert big.status == 413
        ack = await client.post(
            NODE_PATH, data=io.BytesIO(huge_ack), headers=webjs_headers(huge_ack)
        )
        assert ack.status == 413
        unsigned = await client.post(NODE_PATH, data=io.BytesIO(video))
        assert unsigned.status == 401
    assert _acks_on(kafka_bootstrap, topics) == []

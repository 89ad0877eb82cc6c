"""Kafka goes away: ingest answers 503 with Retry-After; Kafka comes back: the retry lands.

The test runs a broker of its own (the session broker is shared with other tests), stops it
and restarts it on the same ports, as an outage of the user's cluster would look.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from contract.admin import create_topics
from contract.events import decode_event_batch
from contract.topics import Topics
from tests.integration.ingest_support import (
    API,
    dumps,
    ingest_client,
    ingest_settings,
    read_topic,
)
from tickstream.infra.kafka import KafkaBroker

pytestmark = pytest.mark.integration


async def test_outage_gives_503_and_the_retried_request_lands(tmp_path: Path) -> None:
    broker = KafkaBroker(tmp_path / "kafka")
    await asyncio.to_thread(broker.start)
    try:
        topics = Topics(prefix="outage-", partitions=2)
        create_topics(broker.bootstrap, topics.all())
        settings = ingest_settings(
            broker.bootstrap, topics.prefix, topics.partitions, produce_timeout_seconds=3.0
        )
        before = dumps([{"message_id": "before", "status": "sent"}])
        during = dumps([{"message_id": f"during-{i}", "status": "read"} for i in range(10)])
        async with ingest_client(settings) as client:
            assert (await client.post("/v1/events", data=before, headers=API)).status == 200

            await asyncio.to_thread(broker.stop)
            refused = await client.post("/v1/events", data=during, headers=API)
            assert refused.status == 503
            assert int(refused.headers["Retry-After"]) > 0
            assert (await refused.json())["error"] == "kafka unavailable"
            assert (await client.get("/readyz")).status == 503

            await asyncio.to_thread(broker.restart)
            # the sender retries as Retry-After tells it to, until the answer is 2xx
            for _ in range(20):
                retried = await client.post("/v1/events", data=during, headers=API)
                if retried.status == 200:
                    break
                assert retried.status == 503
                await asyncio.sleep(1)
            assert (retried.status, await retried.json()) == (200, {"accepted": 10})
            assert (await client.get("/readyz")).status == 200

        landed = [
            event.message_id
            for _, _, value in read_topic(broker.bootstrap, topics.ack_events)
            for event in decode_event_batch(value).events
        ]
        # every event of the refused request is there at least once (a record that was still
        # queued when the deadline passed may land too: duplicates are harmless downstream)
        assert {"before", *(f"during-{i}" for i in range(10))} == set(landed)
    finally:
        await asyncio.to_thread(broker.stop)

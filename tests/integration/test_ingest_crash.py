"""SIGKILL of ingest under load loses nothing it acknowledged: a 2xx is only sent after Kafka
acknowledged every record of the request (acks=all), so every event of every request answered
200 before the kill is on ``ack-events`` afterwards.
"""

from __future__ import annotations

import asyncio
import signal

import aiohttp
import pytest

from contract.events import decode_event_batch
from contract.topics import Topics
from tests.integration.ingest_support import API, dumps, ingest_process, read_topic

pytestmark = pytest.mark.integration


async def test_sigkill_under_load_loses_no_acknowledged_event(
    kafka_bootstrap: str, topics: Topics
) -> None:
    acknowledged: set[str] = set()
    refused = 0
    with ingest_process(kafka_bootstrap, topics) as (url, process):

        async def sender(session: aiohttp.ClientSession, worker: int) -> None:
            nonlocal refused
            for n in range(10_000):
                ids = [f"w{worker}-r{n}-e{i}" for i in range(20)]
                body = dumps([{"message_id": m, "status": "delivered"} for m in ids])
                try:
                    async with session.post(f"{url}/v1/events", data=body, headers=API) as answer:
                        if answer.status == 200:
                            acknowledged.update(ids)
                        else:
                            refused += 1
                except aiohttp.ClientError:
                    return  # the process is gone

        async with aiohttp.ClientSession() as session:
            senders = [asyncio.create_task(sender(session, w)) for w in range(16)]
            while len(acknowledged) < 2_000:
                await asyncio.sleep(0.05)
            process.send_signal(signal.SIGKILL)
            await asyncio.gather(*senders)
        assert process.wait(timeout=10) == -signal.SIGKILL

    landed = {
        event.message_id
        for _, _, value in read_topic(kafka_bootstrap, topics.ack_events)
        for event in decode_event_batch(value).events
    }
    assert refused == 0
    assert acknowledged <= landed, f"{len(acknowledged - landed)} acknowledged events lost"

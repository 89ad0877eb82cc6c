"""Sender keys against the real broker, issued and revoked by ``tickstream sender-key``: a key
writes its own workspace's campaigns and nothing else (403 naming the campaign), another ingest
instance knows keys and campaigns from Kafka alone, and a revoked key is refused."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from contract.events import Dispatch, decode_campaign_owner, decode_event_batch
from contract.topics import Topics
from tests.integration.ingest_support import (
    API,
    dumps,
    ingest_client,
    ingest_settings,
    read_topic,
    sender_key,
)

pytestmark = pytest.mark.integration


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def campaign(campaign_id: str, workspace: str) -> bytes:
    return dumps({"campaign_id": campaign_id, "workspace_id": workspace, "total_recipients": 2})


def dispatch(message_id: str, campaign_id: str, workspace: str) -> dict[str, Any]:
    return {"message_id": message_id, "campaign_id": campaign_id, "workspace_id": workspace}


async def test_a_scoped_key_cannot_write_another_workspace(
    kafka_bootstrap: str, topics: Topics
) -> None:
    key_a = sender_key(kafka_bootstrap, topics, "--workspace", "wa")
    key_b = sender_key(kafka_bootstrap, topics, "--workspace", "wb")
    settings = ingest_settings(kafka_bootstrap, topics.prefix, topics.partitions)
    async with ingest_client(settings) as one, ingest_client(settings) as two:
        # registered by the trusted token and by B's key, through the first instance
        assert (
            await one.post("/v1/campaigns", data=campaign("cb", "wb"), headers=API)
        ).status == 200
        answer = await one.post("/v1/campaigns", data=campaign("cb2", "wb"), headers=bearer(key_b))
        assert answer.status == 200, await answer.text()
        answer = await one.post("/v1/campaigns", data=campaign("ca", "wa"), headers=bearer(key_a))
        assert answer.status == 200, await answer.text()

        # the second instance knows the keys and the owners at once, from Kafka
        ok = await two.post(
            "/v1/dispatches", data=dumps([dispatch("m1", "ca", "wa")]), headers=bearer(key_a)
        )
        assert (ok.status, await ok.json()) == (200, {"accepted": 1})
        ok = await two.post(
            "/v1/dispatches", data=dumps(dispatch("m2", "cb2", "wb")), headers=bearer(key_b)
        )
        assert ok.status == 200, await ok.text()

        refusals = [
            ("/v1/dispatches", [dispatch("m1", "ca", "wa"), dispatch("x1", "cb", "wa")], 1, "cb"),
            ("/v1/dispatches", [dispatch("x2", "cb", "wb")], 0, "cb"),
            ("/v1/dispatches", [dispatch("x3", "nobody", "wa")], 0, "nobody"),
            (
                "/v1/skips",
                [{"campaign_id": "cb", "workspace_id": "wa", "recipient": "+1"}],
                0,
                "cb",
            ),
            ("/v1/campaigns", [{"campaign_id": "cb", "workspace_id": "wa"}], 0, "cb"),
        ]
        for path, items, item, campaign_id in refusals:
            for client in (one, two):
                refused = await client.post(path, data=dumps(items), headers=bearer(key_a))
                problem = await refused.json()
                assert refused.status == 403, problem
                assert problem["error"] == "forbidden" and problem["detail"]
                assert (problem["item"], problem["campaign_id"]) == (item, campaign_id)
        acks = dumps([{"message_id": "m1", "status": "read"}])
        assert (await two.post("/v1/events", data=acks, headers=bearer(key_a))).status == 200
        metrics = await (await one.get("/metrics")).text()
        assert 'tickstream_ingest_rejections_total{reason="forbidden"} 5.0' in metrics

        wrong = key_a[:-2] + ("xy" if not key_a.endswith("xy") else "zz")
        assert (await one.post("/v1/events", data=acks, headers=bearer(wrong))).status == 401

        key_id = key_a.split("_")[1]
        revoked = sender_key(kafka_bootstrap, topics, "--revoke", key_id)
        assert key_id in revoked
        for client in (one, two):  # each instance follows the topic: it refuses the key soon
            while (await client.post("/v1/events", data=acks, headers=bearer(key_a))).status == 200:
                await asyncio.sleep(0.05)
            answer = await client.post("/v1/events", data=acks, headers=bearer(key_a))
            assert answer.status == 401 and "revoked" in (await answer.json())["detail"]
        assert (await two.post("/v1/events", data=acks, headers=bearer(key_b))).status == 200

    landed = [
        event
        for _, _, value in read_topic(kafka_bootstrap, topics.ack_events)
        for event in decode_event_batch(value).events
        if isinstance(event, Dispatch)
    ]
    assert sorted(e.message_id for e in landed) == ["m1", "m2"]  # no refused item landed
    owners = {
        owner.campaign_id: owner.workspace_id
        for owner in (
            decode_campaign_owner(v)
            for _, _, v in read_topic(kafka_bootstrap, topics.campaign_owners)
        )
    }
    assert owners == {"cb": "wb", "cb2": "wb", "ca": "wa"}

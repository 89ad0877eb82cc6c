"""A dispatch's labels (template, variant, tags: docs/insights.md) through the real ingest and
broker: they reach ``ack-events`` in the Dispatch, and a label beyond the contract's limits is
refused naming its field, its body kept in ``ingest-dlq``."""

from __future__ import annotations

import base64

import pytest

from contract.events import Dispatch, decode_event_batch, decode_ingest_dead_letter
from contract.topics import Topics
from tests.integration.ingest_support import API, dumps, ingest_client, ingest_settings, read_topic

pytestmark = pytest.mark.integration

DISPATCH = {"campaign_id": "c-ab", "workspace_id": "w1", "recipient": "+5511900000001"}


def _dispatches_on(bootstrap: str, topics: Topics) -> dict[str, Dispatch]:
    found = {}
    for _, _, value in read_topic(bootstrap, topics.ack_events):
        for event in decode_event_batch(value).events:
            assert isinstance(event, Dispatch)
            found[event.message_id] = event
    return found


async def test_labels_reach_kafka_in_the_dispatch(kafka_bootstrap: str, topics: Topics) -> None:
    settings = ingest_settings(kafka_bootstrap, topics.prefix, topics.partitions)
    five_tags = ["vip", "sp", "t" * 64, "q4", "black-friday"]
    labelled = [
        {**DISPATCH, "message_id": "a1", "template": "promo_nov", "variant": "A", "tags": ["vip"]},
        {
            **DISPATCH,
            "message_id": "b1",
            "template": "promo_nov",
            "variant": "B",
            "tags": five_tags,
        },
        {**DISPATCH, "message_id": "n1"},
    ]
    ndjson = dumps({**DISPATCH, "message_id": "a2", "variant": "A", "template": "x" * 128})
    async with ingest_client(settings) as client:
        answer = await client.post("/v1/dispatches", data=dumps(labelled), headers=API)
        assert (answer.status, await answer.json()) == (200, {"accepted": 3})
        answer = await client.post(
            "/v1/dispatches", data=ndjson, headers={**API, "Content-Type": "application/x-ndjson"}
        )
        assert answer.status == 200, await answer.text()
        document = await (await client.get("/openapi.json")).json()
    landed = _dispatches_on(kafka_bootstrap, topics)
    assert set(landed) == {"a1", "b1", "n1", "a2"}
    assert (landed["a1"].template, landed["a1"].variant, landed["a1"].tags) == (
        "promo_nov",
        "A",
        ["vip"],
    )
    assert landed["b1"].tags == five_tags
    assert (landed["n1"].template, landed["n1"].variant, landed["n1"].tags) == ("", "", [])
    assert (landed["a2"].variant, landed["a2"].template) == ("A", "x" * 128)
    schema = document["components"]["schemas"]["DispatchIn"]["properties"]
    assert schema["tags"]["maxItems"] == 5 and schema["tags"]["items"]["maxLength"] == 64
    assert (schema["variant"]["maxLength"], schema["template"]["maxLength"]) == (64, 128)


async def test_labels_beyond_the_limits_are_refused_and_dead_lettered(
    kafka_bootstrap: str, topics: Topics
) -> None:
    settings = ingest_settings(kafka_bootstrap, topics.prefix, topics.partitions)
    six_tags = dumps(
        [
            {**DISPATCH, "message_id": "ok", "tags": ["a"]},
            {**DISPATCH, "message_id": "six", "tags": ["a", "b", "c", "d", "e", "f"]},
        ]
    )
    long_variant = dumps({**DISPATCH, "message_id": "long", "variant": "v" * 65})
    async with ingest_client(settings) as client:
        answers = []
        for body in (six_tags, long_variant):
            answer = await client.post("/v1/dispatches", data=body, headers=API)
            answers.append((answer.status, (await answer.json())["field"]))
    assert answers == [(422, "$[1].tags"), (422, "$.variant")]
    letters = [
        decode_ingest_dead_letter(v) for _, _, v in read_topic(kafka_bootstrap, topics.ingest_dlq)
    ]
    assert [base64.b64decode(d.body_base64) for d in letters] == [six_tags, long_variant]
    assert [(d.endpoint, d.status, d.field) for d in letters] == [
        ("/v1/dispatches", 422, "$[1].tags"),
        ("/v1/dispatches", 422, "$.variant"),
    ]
    # nothing of a refused request reached ack-events, not even its valid first dispatch
    assert read_topic(kafka_bootstrap, topics.ack_events, timeout=5) == []

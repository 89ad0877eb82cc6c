"""A record the worker cannot use — empty, or nested deeper than a decoder follows — is kept in
``worker-dlq`` with its bytes and reason, and the worker goes on counting exactly
(docs/worker.md)."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from confluent_kafka import Producer

from contract.events import decode_dead_letter
from contract.topics import Topics
from tests.integration.ingest_support import read_topic
from tests.integration.pipeline import SnapshotReader, service_env, start_service, stop
from tickstream.simulator.oracle import oracle
from tickstream.simulator.workload import campaign_events, produce_events

pytestmark = pytest.mark.integration

DEEP = b'{"events":' + b"[" * 50_000


def test_unusable_records_go_to_the_dead_letters_and_counting_goes_on(
    kafka_bootstrap: str, topics: Topics, group_id: str, tmp_path: Path
) -> None:
    events = campaign_events(5, 300, seed=11)
    expected = oracle(events)
    half = len(events) // 2
    produce_events(kafka_bootstrap, topics, events[:half])
    bad = [
        (topics.ack_events, b"m-empty", b""),
        (topics.ack_events, b"m-deep", DEEP),
        (topics.campaign_events, b"c-empty", b""),
        (topics.campaign_events, b"c-deep", DEEP),
    ]
    producer = Producer({"bootstrap.servers": kafka_bootstrap})
    for topic, key, value in bad:
        producer.produce(topic, key=key, value=value)
    producer.flush(30)
    produce_events(kafka_bootstrap, topics, events[half:])

    worker = start_service(
        "streams", service_env(kafka_bootstrap, topics, STATE_DIR=str(tmp_path)), tmp_path / "w.log"
    )
    reader = SnapshotReader(kafka_bootstrap, topics, group_id)
    try:
        got = reader.wait_for(expected, timeout=180)
        assert worker.poll() is None, "the worker stopped on a record it cannot use"
    finally:
        stop(worker)
        reader.close()
    assert got == expected
    letters = [
        decode_dead_letter(value) for _, _, value in read_topic(kafka_bootstrap, topics.worker_dlq)
    ]
    kept = sorted((letter.topic, base64.b64decode(letter.value_b64 or "")) for letter in letters)
    assert kept == sorted((topic, value) for topic, _, value in bad)
    for letter in letters:
        empty = letter.value_b64 == ""
        assert (letter.reason == "empty record") == empty, letter

"""Helpers of the ingest integration tests (no tests here): signed requests, reading topics."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

from aiohttp.test_utils import TestClient, TestServer
from confluent_kafka import Consumer, KafkaException, TopicPartition

from contract.settings import Settings
from contract.topics import Topics
from ingest.app import create_app
from ingest.auth import twilio_signature
from tickstream.infra import PROJECT_ROOT, free_port

SECRETS = {
    "ingest_api_token": "api-token",
    "webjs_hmac_secret": "webjs-secret",
    "waha_hmac_key": "waha-key",
    "evolution_token": "evolution-token",
    "meta_app_secret": "meta-secret",
    "meta_verify_token": "meta-verify",
    "twilio_auth_token": "twilio-token",
    "public_base_url": "https://ingest.example.com",
}
API = {"Authorization": "Bearer api-token"}


def ingest_settings(bootstrap: str, prefix: str, partitions: int, **extra: Any) -> Settings:
    return Settings(
        kafka_bootstrap=bootstrap,
        topic_prefix=prefix,
        topic_partitions=partitions,
        **{**SECRETS, **extra},
    )


@asynccontextmanager
async def ingest_client(settings: Settings) -> Any:
    client = TestClient(TestServer(create_app(settings), host="127.0.0.1"))
    await client.start_server()
    try:
        yield client
    finally:
        await client.close()


def webjs_headers(body: bytes, secret: str = "webjs-secret", at: float | None = None) -> dict:
    stamp = str(int(time.time() if at is None else at))
    signature = hmac.new(secret.encode(), stamp.encode() + body, hashlib.sha256).hexdigest()
    return {"X-Timestamp": stamp, "X-HMAC-Signature": signature}


def waha_headers(body: bytes, key: str = "waha-key") -> dict:
    signature = hmac.new(key.encode(), body, hashlib.sha512).hexdigest()
    return {"X-Webhook-Hmac": signature, "X-Webhook-Hmac-Algorithm": "sha512"}


def meta_headers(body: bytes, secret: str = "meta-secret") -> dict:
    signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"X-Hub-Signature-256": f"sha256={signature}"}


def twilio_headers(form: dict[str, str], token: str = "twilio-token") -> dict:
    url = SECRETS["public_base_url"] + "/webhooks/twilio"
    return {"X-Twilio-Signature": twilio_signature(token, url, list(form.items()))}


def dumps(value: Any) -> bytes:
    return json.dumps(value).encode()


def read_topic(bootstrap: str, topic: str, timeout: float = 20.0) -> list[tuple[int, str, bytes]]:
    """Every record of ``topic`` up to its current end: (partition, key, value)."""
    return list(_records(bootstrap, topic, timeout))


def _records(bootstrap: str, topic: str, timeout: float) -> Iterator[tuple[int, str, bytes]]:
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": "ingest-tests", "enable.auto.commit": False}
    )
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        ends = {}
        for p in partitions:
            low, high = _watermarks(consumer, TopicPartition(topic, p))
            if high > low:
                ends[p] = high
        consumer.assign([TopicPartition(topic, p, 0) for p in ends])
        deadline = time.monotonic() + timeout
        while ends and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None or message.error():
                continue
            partition, offset = message.partition(), message.offset()
            key = message.key()
            yield partition, key.decode() if key else "", message.value() or b""
            if offset + 1 >= ends.get(partition, 0):
                ends.pop(partition, None)
        assert not ends, f"could not read {topic} to its end: {ends}"
    finally:
        consumer.close()


def _watermarks(consumer: Consumer, partition: TopicPartition) -> tuple[int, int]:
    """Watermarks, waiting out a fresh topic's leader election (NOT_LEADER_FOR_PARTITION)."""
    deadline = time.monotonic() + 15
    while True:
        try:
            low, high = consumer.get_watermark_offsets(partition, timeout=10)
            return int(low), int(high)
        except KafkaException:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@contextmanager
def ingest_process(bootstrap: str, topics: Topics) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``python -m ingest`` as users run it, every secret configured; yields (url, process)."""
    port = free_port()
    env = {
        **os.environ,
        **{name.upper(): value for name, value in SECRETS.items()},
        "KAFKA_BOOTSTRAP": bootstrap,
        "TOPIC_PREFIX": topics.prefix,
        "TOPIC_PARTITIONS": str(topics.partitions),
        "INGEST_PORT": str(port),
        "LOG_LEVEL": "WARNING",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "ingest"], env=env, cwd=PROJECT_ROOT, stderr=subprocess.PIPE
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, "ingest exited at start"
            try:
                with urllib.request.urlopen(f"{url}/healthz", timeout=1) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                assert time.monotonic() < deadline, "ingest did not start within 30 s"
                time.sleep(0.2)
        yield url, process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)

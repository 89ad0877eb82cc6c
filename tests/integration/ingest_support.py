"""Helpers of the ingest integration tests (no tests here): signed requests, reading topics."""

from __future__ import annotations

import asyncio
import base64
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

from contract.topics import Topics
from ingest.app import create_app
from ingest.handlers import INGEST
from ingest.settings import IngestSettings
from tickstream.infra.ports import free_port
from tickstream.simulator import signing
from tickstream.state_dir import PROJECT_ROOT

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


def ingest_settings(bootstrap: str, prefix: str, partitions: int, **extra: Any) -> IngestSettings:
    return IngestSettings(
        kafka_bootstrap=bootstrap,
        topic_prefix=prefix,
        topic_partitions=partitions,
        **{**SECRETS, **extra},
    )


@asynccontextmanager
async def ingest_client(settings: IngestSettings) -> Any:
    client = TestClient(TestServer(create_app(settings), host="127.0.0.1"))
    await client.start_server()
    try:
        # the directory's consumer has started before a test can end: stopping an aiokafka
        # client in the middle of its start leaves a connection open (a ResourceWarning)
        await client.app[INGEST].follower.sync(within=60)
        yield client
    finally:
        await client.close()


# Signed as the providers sign (the simulator's signing), with the secrets of SECRETS unless a
# test forges a request with another one.


def webjs_headers(body: bytes, secret: str = "webjs-secret", at: float | None = None) -> dict:
    return signing.webjs_headers(secret, body, time.time() if at is None else at)


def waha_headers(body: bytes, key: str = "waha-key") -> dict:
    return signing.waha_headers(key, body)


def meta_headers(body: bytes, secret: str = "meta-secret") -> dict:
    return signing.meta_headers(secret, body)


def twilio_headers(form: dict[str, str], token: str = "twilio-token") -> dict:
    url = SECRETS["public_base_url"] + "/webhooks/twilio"
    return signing.twilio_headers(token, url, list(form.items()))


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
            assert partition is not None and offset is not None  # a fetched record has both
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


def sender_key(bootstrap: str, topics: Topics, *args: str) -> str:
    """``tickstream sender-key …`` as an operator runs it; its stdout (the key, when issuing)."""
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP": bootstrap,
        "TOPIC_PREFIX": topics.prefix,
        "TOPIC_PARTITIONS": str(topics.partitions),
    }
    done = subprocess.run(
        [sys.executable, "-m", "tickstream", "sender-key", *args],
        env=env,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return done.stdout.strip()


@contextmanager
def ingest_process(
    bootstrap: str, topics: Topics, port: int | None = None
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``python -m ingest`` as users run it, every secret configured; yields (url, process).

    ``port``: the same one again, to restart it where its senders look for it.
    """
    port = port or free_port()
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
        process.communicate(timeout=30)  # reaps it and closes its stderr pipe


async def raw_request(
    port: int, method: str, target: bytes, headers: list[tuple[str, bytes]], body: bytes = b""
) -> tuple[int, bytes]:
    """One HTTP/1.1 request with every byte put on the wire as given; (status, answer body).

    aiohttp's client refuses a header that is not text, so a byte such as 0xff in a credential
    header can only be sent this way.
    """
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = [method.encode() + b" " + target + b" HTTP/1.1", b"Host: 127.0.0.1"]
    head += [name.encode() + b": " + value for name, value in headers]
    head += [b"Content-Length: %d" % len(body), b"Connection: close"]
    try:
        writer.write(b"\r\n".join(head) + b"\r\n\r\n" + body)
        await writer.drain()
        answer = await reader.read()
    finally:
        writer.close()
    status_line, _, rest = answer.partition(b"\r\n")
    _, _, answer_body = rest.partition(b"\r\n\r\n")
    return int(status_line.split()[1]), answer_body


def hs256_jwt(claims: dict[str, Any], key: str) -> str:
    """A JWT as Evolution signs it when given a ``jwt_key``."""

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    head = b64(dumps({"alg": "HS256", "typ": "JWT"}))
    body = b64(dumps(claims))
    signature = hmac.new(key.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64(signature)}"

"""Ingest benchmark: one ``python -m ingest`` process, a broker on this machine, traffic on
loopback. Prints three figures:

* bulk: events/s through ``POST /v1/events`` in requests of 500 events;
* webhooks: requests/s of signed single-event WAHA webhooks, as fast as they are answered;
* latency: p50/p99/max of webhooks sent open-loop at a fixed rate (default 1,000/s).

Every request is answered only after Kafka acknowledged its records (acks=all), so these are
end-to-end figures. Uses ``KAFKA_BOOTSTRAP`` if set, else starts a broker in a temp directory.

    python -m tickstream.bench.ingest [--seconds 10] [--rate 1000] [--clients 1] [--connections 128]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import multiprocessing
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import uvloop

from streams.admin import create_topics
from streams.topics import Topics
from tickstream.infra import PROJECT_ROOT, KafkaBroker, free_port

API_TOKEN = "bench-token"
WAHA_KEY = "bench-waha-key"
BATCH = 500


@dataclass
class Result:
    requests: int = 0
    events: int = 0
    failures: int = 0
    latencies: list[float] = field(default_factory=list)


# --------------------------------------------------------------------------- bodies


def bulk_bodies(count: int) -> list[bytes]:
    statuses = ["sent", "delivered", "read"]
    return [
        json.dumps(
            [
                {"message_id": f"bench-{b}-{i}", "status": statuses[i % 3], "provider": "bench"}
                for i in range(BATCH)
            ]
        ).encode()
        for b in range(count)
    ]


def webhook_requests(count: int) -> list[tuple[bytes, dict[str, str]]]:
    requests = []
    for i in range(count):
        body = json.dumps(
            {
                "event": "message.ack",
                "session": "default",
                "timestamp": int(time.time() * 1000),
                "payload": {"id": f"true_5511{i:07d}@c.us_BENCH{i}", "ack": 2 + i % 2},
            }
        ).encode()
        signature = hmac.new(WAHA_KEY.encode(), body, hashlib.sha512).hexdigest()
        requests.append((body, {"X-Webhook-Hmac": signature, "Content-Type": "application/json"}))
    return requests


# --------------------------------------------------------------------------- load
#
# A minimal keep-alive HTTP/1.1 client on raw asyncio streams: aiohttp's client costs about as
# much CPU per request as the server does, and on two cores it would measure itself.


def encode_request(path: str, body: bytes, headers: dict[str, str]) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


_LENGTH = re.compile(rb"(?i)\r\ncontent-length: *(\d+)")


class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> Connection:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def send(self, raw: bytes) -> int:
        """Send one request, read its whole answer, return the status code."""
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        length = _LENGTH.search(head)
        await self.reader.readexactly(int(length.group(1)) if length else 0)
        return int(head[9:12])

    def close(self) -> None:
        self.writer.close()


def _requests(kind: str) -> tuple[list[bytes], int]:
    if kind == "bulk":
        auth = {"Authorization": f"Bearer {API_TOKEN}", "Content-Type": "application/json"}
        return [encode_request("/v1/events", b, auth) for b in bulk_bodies(20)], BATCH
    return [encode_request("/webhooks/waha", b, h) for b, h in webhook_requests(2000)], 1


async def _closed_loop(port: int, kind: str, seconds: float, concurrency: int) -> Result:
    """``concurrency`` connections, each with one request in flight, for ``seconds``."""
    result = Result()
    requests, per_request = _requests(kind)
    deadline = time.perf_counter() + seconds

    async def worker(offset: int) -> None:
        connection = await Connection.open(port)
        n = offset
        while time.perf_counter() < deadline:
            status = await connection.send(requests[n % len(requests)])
            n += concurrency
            if status == 200:
                result.requests += 1
                result.events += per_request
            else:
                result.failures += 1
        connection.close()

    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    return result


async def _open_loop(port: int, rate: float, seconds: float) -> Result:
    """Requests started on a fixed schedule whatever the answers do (a free connection from a
    pool of 256 or a new one); the latency of each includes any wait for a connection.
    """
    result = Result()
    requests, _ = _requests("webhook")
    idle: list[Connection] = [await Connection.open(port) for _ in range(64)]
    slots = asyncio.Semaphore(256)

    async def one(n: int) -> None:
        started = time.perf_counter()
        async with slots:
            connection = idle.pop() if idle else await Connection.open(port)
            status = await connection.send(requests[n % len(requests)])
            idle.append(connection)
        result.latencies.append(time.perf_counter() - started)
        if status == 200:
            result.requests += 1
        else:
            result.failures += 1

    tasks = []
    start = time.perf_counter()
    for n in range(int(rate * seconds)):
        delay = start + n / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(n)))
    await asyncio.gather(*tasks)
    for connection in idle:
        connection.close()
    return result


def _client(args: tuple[int, str, float, int, float]) -> Result:
    port, kind, seconds, concurrency, rate = args
    if kind == "latency":
        return uvloop.run(_open_loop(port, rate, seconds))
    return uvloop.run(_closed_loop(port, kind, seconds, concurrency))


def run_clients(
    port: int, kind: str, seconds: float, clients: int, concurrency: int, rate: float = 0.0
) -> tuple[Result, float]:
    """Run ``clients`` load processes, each with ``concurrency`` connections (or its share of
    ``rate``).
    """
    jobs = [(port, kind, seconds, concurrency, rate / clients) for _ in range(clients)]
    started = time.perf_counter()
    with multiprocessing.get_context("spawn").Pool(clients) as pool:
        parts = pool.map(_client, jobs)
    elapsed = time.perf_counter() - started
    total = Result()
    for part in parts:
        total.requests += part.requests
        total.events += part.events
        total.failures += part.failures
        total.latencies.extend(part.latencies)
    return total, elapsed


# --------------------------------------------------------------------------- the server


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def broker() -> Iterator[str]:
    given = os.environ.get("KAFKA_BOOTSTRAP")
    if given:
        yield given
        return
    with tempfile.TemporaryDirectory(prefix="bench-kafka-") as directory:
        local = KafkaBroker(Path(directory))
        local.start()
        try:
            yield local.bootstrap
        finally:
            local.stop()


@contextmanager
def ingest_process(bootstrap: str, partitions: int) -> Iterator[tuple[int, int]]:
    topics = Topics(prefix=f"bench{uuid.uuid4().hex[:6]}-", partitions=partitions)
    create_topics(bootstrap, topics.all())
    port = free_port()
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP": bootstrap,
        "TOPIC_PREFIX": topics.prefix,
        "TOPIC_PARTITIONS": str(partitions),
        "INGEST_PORT": str(port),
        "INGEST_API_TOKEN": API_TOKEN,
        "WAHA_HMAC_KEY": WAHA_KEY,
        "LOG_LEVEL": "WARNING",
    }
    process = subprocess.Popen([sys.executable, "-m", "ingest"], env=env, cwd=PROJECT_ROOT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{url}/readyz", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("ingest did not start") from None
                time.sleep(0.2)
        yield port, process.pid
    finally:
        process.terminate()
        process.wait(timeout=30)


def _report(name: str, result: Result, elapsed: float, cpu: float, unit: str) -> None:
    rate = (result.events if unit == "events" else result.requests) / elapsed
    print(
        f"{name:9} {rate:10,.0f} {unit}/s   ({result.requests:,} requests, "
        f"{result.failures} not 200, {elapsed:.1f} s, ingest CPU {cpu / elapsed:.0%} of a core)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each phase")
    parser.add_argument("--rate", type=float, default=1000.0, help="req/s of the latency phase")
    parser.add_argument("--clients", type=int, default=1, help="load generator processes")
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--connections", type=int, default=128, help="per client, webhooks")
    args = parser.parse_args(argv)
    # SIGTERM (e.g. from `timeout`) unwinds like Ctrl-C, so the broker started here is stopped
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}")
    with broker() as bootstrap, ingest_process(bootstrap, args.partitions) as (port, pid):
        run_clients(port, "webhook", 1.0, 1, 8)  # warm-up: connections, producer, caches
        phases = [
            ("bulk", "bulk", 8, "events"),
            ("webhooks", "webhook", args.connections, "requests"),
        ]
        for name, kind, concurrency, unit in phases:
            cpu = _cpu_seconds(pid)
            result, elapsed = run_clients(port, kind, args.seconds, args.clients, concurrency)
            _report(name, result, elapsed, _cpu_seconds(pid) - cpu, unit)
        cpu = _cpu_seconds(pid)
        result, elapsed = run_clients(port, "latency", args.seconds, args.clients, 0, args.rate)
        _report("latency", result, elapsed, _cpu_seconds(pid) - cpu, "requests")
        latencies = sorted(result.latencies)
        if latencies:
            p99 = latencies[int(len(latencies) * 0.99) - 1]
            print(
                f"          at {args.rate:,.0f} req/s offered: p50 "
                f"{statistics.median(latencies) * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms, "
                f"max {latencies[-1] * 1000:.1f} ms"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

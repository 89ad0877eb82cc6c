"""Ingest benchmark: one ``python -m ingest`` process, a broker on this machine, traffic on
loopback. Prints, per phase:

* bulk: events/s through ``POST /v1/events`` in requests of 500 events;
* webhooks: requests/s of signed single-event WAHA webhooks, as fast as they are answered
  (closed loop, ``--connections`` connections);
* at each ``--rate`` (default 1,000 and 3,000 req/s): webhooks sent open-loop on a fixed
  schedule, with p50/p99/max latency;

and for each the load average when it started, the share of a core used by ingest (and its CPU
per request), by the broker (when started here) and by the load generator, the events per
``ack-events`` record and the mean wait for Kafka's acknowledgement (both from ingest's
``/metrics``). Every request is answered only after Kafka acknowledged its records
(acks=all), so these are end-to-end figures. Uses ``KAFKA_BOOTSTRAP`` if set, else starts a
broker in a temp directory. By default (``--pin``) ingest runs on the last core and the broker
and load generators on the others (other programs on the machine still share both);
``--no-pin`` leaves the placement to the scheduler. ``--warmup`` seconds of traffic come first.

    python -m tickstream.bench.ingest [--seconds 10] [--rate 1000,3000] [--no-pin] [--warmup 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import re
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial

import uvloop

from contract.admin import create_topics
from contract.topics import Topics
from tickstream.bench import stop_cleanly_on_sigterm
from tickstream.bench.measure import cpu_seconds, percentiles
from tickstream.infra.ports import free_port
from tickstream.infra.testbed import kafka_server, scratch_directory
from tickstream.simulator.signing import waha_headers
from tickstream.state_dir import PROJECT_ROOT

API_TOKEN = "bench-token"
WAHA_KEY = "bench-waha-key"
BATCH = 500


@dataclass
class Result:
    requests: int = 0
    events: int = 0
    failures: int = 0
    cpu: float = 0.0  # CPU seconds of the load generator processes
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
        requests.append(
            (body, {**waha_headers(WAHA_KEY, body), "Content-Type": "application/json"})
        )
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
    started = time.process_time()
    if kind == "latency":
        result = uvloop.run(_open_loop(port, rate, seconds))
    else:
        result = uvloop.run(_closed_loop(port, kind, seconds, concurrency))
    result.cpu = time.process_time() - started
    return result


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
        total.cpu += part.cpu
        total.latencies.extend(part.latencies)
    return total, elapsed


# --------------------------------------------------------------------------- the server


@contextmanager
def ingest_process(bootstrap: str, partitions: int, cores: set[int]) -> Iterator[tuple[int, int]]:
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
    process = subprocess.Popen(
        [sys.executable, "-m", "ingest"],
        env=env,
        cwd=PROJECT_ROOT,
        preexec_fn=partial(os.sched_setaffinity, 0, cores),
    )
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


@dataclass
class Probe:
    """What a phase cost: CPU seconds of ingest and of the broker (when started here), and from
    ingest's ``/metrics`` the events and records it produced on ``ack-events`` and how long its
    requests waited for Kafka (``tickstream_ingest_produce_seconds``).
    """

    port: int
    ingest_pid: int
    broker_pid: int | None

    def read(self) -> list[float]:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=5) as answer:
            sums = dict(_SUM_OR_COUNT.findall(answer.read().decode()))
        return [
            cpu_seconds(self.ingest_pid),
            cpu_seconds(self.broker_pid) if self.broker_pid else 0.0,
            *(float(sums.get(name, 0)) for name in _HISTOGRAMS),
        ]


_HISTOGRAMS = (
    "record_events_sum",  # events produced on ack-events
    "record_events_count",  # records produced on ack-events
    "produce_seconds_sum",  # seconds requests waited for Kafka
    "produce_seconds_count",  # requests that were acknowledged
)
_SUM_OR_COUNT = re.compile(r"(?m)^tickstream_ingest_(\w+_(?:sum|count)) (\S+)$")


def phase(probe: Probe, name: str, unit: str, run: Callable[[], tuple[Result, float]]) -> Result:
    """Run one phase and print its figures: rate, the load average when it started, each
    process's share of a core, ingest's CPU per request, events per record, and the mean wait
    for Kafka's acknowledgement.
    """
    load = os.getloadavg()[0]
    before = probe.read()
    result, elapsed = run()
    ingest_cpu, broker_cpu, events, records, waited, acknowledged = (
        after - first for after, first in zip(probe.read(), before, strict=True)
    )
    rate = (result.events if unit == "events" else result.requests) / elapsed
    broker = f"broker {broker_cpu / elapsed:.0%}, " if probe.broker_pid else ""
    per_record = f"{events / records:,.1f}" if records else "-"
    wait = f"{waited / acknowledged * 1000:.1f} ms" if acknowledged else "-"
    print(
        f"{name:15} {rate:9,.0f} {unit}/s  load {load:4.1f}  {result.requests:,} requests "
        f"({result.failures} not 200) in {elapsed:.1f} s\n"
        f"{'':15} CPU: ingest {ingest_cpu / elapsed:.0%} "
        f"({ingest_cpu / max(result.requests, 1) * 1e6:,.0f} µs/request), {broker}"
        f"load generator {result.cpu / elapsed:.0%}\n"
        f"{'':15} {per_record} events/record, mean wait for Kafka {wait}"
    )
    return result


def _pin(pin: bool) -> tuple[set[int], set[int]]:
    """CPU sets (ingest, everything else): with ``--pin`` ingest gets the last core to itself
    (other programs on the machine may still run there) and the broker and load generators the
    others; without it, every core for all.
    """
    cores = os.sched_getaffinity(0)
    if not pin or len(cores) < 2:
        return cores, cores
    last = max(cores)
    return {last}, cores - {last}


def main(argv: list[str] | None = None) -> int:
    stop_cleanly_on_sigterm()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each phase")
    parser.add_argument(
        "--rate",
        type=lambda text: [float(rate) for rate in text.split(",")],
        default=[1000.0, 3000.0],
        help="req/s of the latency phases, comma-separated (default 1000,3000)",
    )
    parser.add_argument("--clients", type=int, default=1, help="load generator processes")
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--connections", type=int, default=128, help="per client, webhooks")
    parser.add_argument(
        "--pin",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="ingest on the last core, broker and load generators on the others (default)",
    )
    parser.add_argument(
        "--warmup",
        type=float,
        default=20.0,
        help="seconds of traffic before measuring: a freshly started broker spends its first "
        "~30 s compiling (JIT), at up to a whole core",
    )
    args = parser.parse_args(argv)
    ingest_cores, other_cores = _pin(args.pin)
    os.sched_setaffinity(0, other_cores)  # inherited by the broker and the load generators
    print(
        f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}, "
        f"ingest on cores {sorted(ingest_cores)}, broker and load on {sorted(other_cores)}"
    )
    with (
        scratch_directory("tickstream-bench-ingest-") as scratch,
        kafka_server(scratch / "kafka") as kafka,
        ingest_process(kafka.address, args.partitions, ingest_cores) as (port, pid),
    ):
        # warm-up: the broker's JIT, connections, the producer, caches
        run_clients(port, "bulk", min(args.warmup, 3.0), 1, 8)
        run_clients(port, "webhook", args.warmup, 1, 32)
        probe = Probe(port, pid, kafka.pid)
        phase(
            probe,
            "bulk",
            "events",
            partial(run_clients, port, "bulk", args.seconds, args.clients, 8),
        )
        phase(
            probe,
            "webhooks",
            "requests",
            partial(run_clients, port, "webhook", args.seconds, args.clients, args.connections),
        )
        for rate in args.rate:
            run = partial(run_clients, port, "latency", args.seconds, args.clients, 0, rate)
            result = phase(probe, f"at {rate:,.0f} req/s", "requests", run)
            if result.latencies:
                p50, p99 = percentiles(result.latencies, 0.5, 0.99)
                print(
                    f"{'':15} latency: p50 {p50 * 1000:.1f} ms, "
                    f"p99 {p99 * 1000:.1f} ms, max {max(result.latencies) * 1000:.1f} ms"
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

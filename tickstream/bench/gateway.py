"""Gateway fan-out benchmark: how many WebSocket clients one gateway process holds, and how long
one snapshot takes to reach all of them.

``python -m tickstream.bench.gateway [--clients 10000] [--rounds 5]`` starts (or uses, with
``KAFKA_BOOTSTRAP`` / ``DATABASE_URL``) Kafka and PostgreSQL, one ``python -m gateway`` process,
and a separate client process holding every connection on loopback (minimal WebSocket clients on
one epoll loop). Each client subscribes on ``/ws`` to one campaign; then one snapshot per round is
produced to ``campaign-stats``. Latency is measured per client from the produce call (the
snapshot's ``timestamp``) to the frame's arrival in the client's socket, read from the kernel's
receive timestamp (``SO_TIMESTAMPNS``): Kafka, the gateway's consume and its fan-out, without the
time the client process itself needs to get round to 10,000 sockets. Per round it prints the first
client's latency (produce → Kafka → consume → first write) and first → last (the fan-out walk).
Once every client is subscribed the client process drops to ``SCHED_IDLE`` (``--clients-sched
normal`` keeps it as it is): it stands for 10,000 remote browsers and, with the arrival times
already stamped by the kernel, needs no CPU the gateway wants. The gateway's own push-latency
histogram (snapshot consumed → frame written) and its CPU time are printed as well."""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import resource
import selectors
import socket
import struct
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from typing import cast

from tickstream.bench import stop_cleanly_on_sigterm
from tickstream.bench.measure import cpu_seconds, percentiles, rss_mib

CAMPAIGN = "bench-campaign"
WORKSPACE = "bench"
TOKEN_SECRET = "bench-" + "0" * 32  # the gateway refuses secrets under 32 bytes


def raise_nofile() -> int:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


# --------------------------------------------------------------------------- client process


# Kernel receive timestamps: when each frame reached the client's socket, whatever the client
# process was busy with. Linux value where the socket module does not name it.
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
ANCILLARY = socket.CMSG_SPACE(16)


def masked_frame(payload: bytes, opcode: int = 0x1) -> bytes:
    """A client→server frame (clients must mask), for payloads under 126 bytes."""
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes([0x80 | opcode, 0x80 | len(payload)]) + mask + masked


class Client:
    """A bare WebSocket client: handshake, one subscribe, then each snapshot's kernel arrival."""

    def __init__(self, sock: socket.socket, path: str) -> None:
        self.sock = sock
        self.path = path
        self.buffer = bytearray()
        self.upgraded = False
        self.subscribed = False

    def handshake(self, host: str, port: int) -> None:
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            f"GET {self.path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n".encode()
        )

    def read(self, arrivals: dict[int, list[float]]) -> None:
        data, ancillary, _, _ = self.sock.recvmsg(1 << 16, ANCILLARY)
        if not data:
            raise ConnectionError("the gateway closed a client")
        arrived = time.time()
        for level, kind, value in ancillary:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                seconds, nanos = struct.unpack("qq", value[:16])
                arrived = seconds + nanos / 1e9
        self.buffer += data
        if not self.upgraded:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            if not self.buffer.startswith(b"HTTP/1.1 101"):
                raise ConnectionError(bytes(self.buffer[:80]).decode(errors="replace"))
            del self.buffer[: end + 4]
            self.upgraded = True
            subscribe = {"action": "subscribe", "channel": f"campaign.{CAMPAIGN}"}
            self.sock.sendall(masked_frame(json.dumps(subscribe).encode()))
        while len(self.buffer) >= 2:
            opcode, size, start = self.buffer[0] & 0x0F, self.buffer[1] & 0x7F, 2
            if size == 126:
                size, start = int.from_bytes(self.buffer[2:4], "big"), 4
            elif size == 127:
                size, start = int.from_bytes(self.buffer[2:10], "big"), 10
            if len(self.buffer) < start + size:
                return
            payload = bytes(self.buffer[start : start + size])
            del self.buffer[: start + size]
            if opcode == 0x9:  # ping → pong
                self.sock.sendall(masked_frame(payload, opcode=0xA))
            elif opcode == 0x1:
                self.on_frame(json.loads(payload), arrived, arrivals)

    def on_frame(
        self, frame: dict[str, object], arrived: float, arrivals: dict[int, list[float]]
    ) -> None:
        if frame.get("type") == "subscribed":
            self.subscribed = True
        elif frame.get("type") == "error":
            raise RuntimeError(f"subscribe refused: {frame}")
        elif frame.get("type") == "snapshot":
            data = frame["data"]
            assert isinstance(data, dict)
            sent_at = datetime.fromisoformat(str(data["timestamp"])).timestamp()
            arrivals.setdefault(int(data["seq"]), []).append(arrived - sent_at)


def hold_clients(
    host: str, port: int, token: str, count: int, seconds: float, stand_aside: bool
) -> None:
    """Open ``count`` subscribed clients, say so on stdout, record arrivals for ``seconds``;
    ``stand_aside``: at idle CPU priority once every client is subscribed."""
    selector = selectors.EpollSelector()
    arrivals: dict[int, list[float]] = {}
    clients: list[Client] = []

    def pump(timeout: float) -> None:
        for key, _ in selector.select(timeout):
            cast(Client, key.data).read(arrivals)

    started = time.monotonic()
    for i in range(count):
        sock = socket.create_connection((host, port))
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        client = Client(sock, f"/ws?token={token}")
        client.handshake(host, port)
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_READ, client)
        clients.append(client)
        if i % 200 == 199:
            pump(0)
    deadline = time.monotonic() + 120
    while not all(c.subscribed for c in clients):
        if time.monotonic() > deadline:
            raise TimeoutError("clients did not all subscribe within 120 s")
        pump(0.1)
    if stand_aside:
        # From now on this process only collects frames whose arrival the kernel has already
        # stamped: it runs when a CPU is otherwise idle, so it never takes the gateway's.
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    print(json.dumps({"ready": count, "connect_seconds": time.monotonic() - started}), flush=True)
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        pump(0.5)
    while selector.select(0):  # frames still unread (a starved process falls behind)
        pump(0)
    print(json.dumps({"arrivals": arrivals}), flush=True)
    for client in clients:
        client.sock.close()


# --------------------------------------------------------------------------- orchestration


def push_latency_buckets(base: str) -> dict[str, float]:
    """The gateway's own push-latency histogram: ``le`` → frames written within it so far."""
    text = urllib.request.urlopen(f"{base}/metrics", timeout=10).read().decode()
    buckets = {}
    for line in text.splitlines():
        if line.startswith("gateway_push_latency_seconds_bucket"):
            le = line.split('le="')[1].split('"')[0]
            buckets[le] = float(line.rsplit(" ", 1)[1])
    return buckets


def push_latency_summary(buckets: dict[str, float]) -> str:
    """Share of frames written within each bucket."""
    total = buckets.get("+Inf", 0.0) or 1.0
    keys = ("0.05", "0.1", "0.25", "0.5", "1.0")
    return ", ".join(f"≤{k}s {100 * buckets.get(k, 0) / total:.1f}%" for k in keys)


def written_p99(before: dict[str, float], after: dict[str, float]) -> str:
    """The bucket bound within which the gateway wrote 99 % of the frames between the two reads:
    where a round's latency went when the kernel's stamps say more (on loopback the receive
    side runs in softirq, which a loaded machine defers to ksoftirqd)."""
    total = after.get("+Inf", 0.0) - before.get("+Inf", 0.0)
    for le in after:  # exposition order: ascending bounds, +Inf last
        if total and after[le] - before.get(le, 0.0) >= 0.99 * total:
            return f"≤ {le} s"
    return "–"


def register_campaign(database: str) -> None:
    """The row the sink would have written, so the campaign's channel may be subscribed."""
    import sqlalchemy as sa

    from contract.schema import campaigns
    from contract.settings import sqlalchemy_url

    engine = sa.create_engine(sqlalchemy_url(database))
    with engine.begin() as conn:
        conn.execute(campaigns.insert().values(campaign_id=CAMPAIGN, workspace_id=WORKSPACE))
    engine.dispose()


def snapshot_producer(bootstrap: str, topic: str) -> Callable[[int], None]:
    """A function producing snapshot ``seq`` stamped with the time of the produce call; the
    producer is connected (metadata fetched) before the first stamp."""
    from confluent_kafka import Producer

    from contract.events import Snapshot, Statistics, WindowCounts, encode

    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0})
    producer.list_topics(topic, timeout=10)

    def produce(seq: int) -> None:
        now = datetime.now(UTC)
        stats = Statistics(
            total_message_count=10_000, total_sent_count=seq, total_delivered_count=0,
            total_read_count=0, total_played_count=0, total_failed_count=0, pending_count=0,
            delivery_rate=0.0, read_rate=0.0, success_rate=0.0, updated_at=now,
        )  # fmt: skip
        snapshot = Snapshot(
            campaign_id=CAMPAIGN, campaign_uuid="", workspace_id=WORKSPACE, seq=seq,
            window=WindowCounts(start=now, end=now), statistics=stats, timestamp=now,
        )  # fmt: skip
        producer.produce(topic, key=CAMPAIGN.encode(), value=encode(snapshot))
        producer.flush(10)

    return produce


def run(args: argparse.Namespace) -> int:
    import uuid

    from contract.admin import create_topics
    from contract.settings import sqlalchemy_url
    from contract.topics import Topics
    from gateway.auth import issue_token
    from sink.migrate import upgrade
    from tickstream.infra.ports import free_port
    from tickstream.infra.testbed import testbed

    limit = raise_nofile()
    print(
        f"RLIMIT_NOFILE {limit}; clients {args.clients}; rounds {args.rounds}; client process "
        f"at {args.clients_sched} CPU priority during the rounds; 127.0.0.1 only"
    )
    with testbed("tickstream-bench-gateway-") as servers:
        bootstrap, database = servers.kafka.address, sqlalchemy_url(servers.postgres.address)
        topics = Topics(prefix=f"bench{uuid.uuid4().hex[:6]}-", partitions=4)
        create_topics(bootstrap, topics.all())
        upgrade(database)
        register_campaign(database)
        port = free_port()
        env = dict(os.environ) | {
            "KAFKA_BOOTSTRAP": bootstrap, "DATABASE_URL": sqlalchemy_url(database),
            "TOPIC_PREFIX": topics.prefix, "TOPIC_PARTITIONS": "4", "GATEWAY_PORT": str(port),
            "TOKEN_SECRET": TOKEN_SECRET, "LOG_LEVEL": "WARNING", "BIND_HOST": "127.0.0.1",
        }  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        gateway = subprocess.Popen([sys.executable, "-m", "gateway"], env=env)
        clients = None
        try:
            for _ in range(600):
                with contextlib.suppress(OSError):
                    if urllib.request.urlopen(f"{base}/readyz", timeout=2).status == 200:
                        break
                time.sleep(0.1)
            # a first snapshot (seq 0, not measured) puts the campaign in the gateway's memory
            produce = snapshot_producer(bootstrap, topics.campaign_stats)
            produce(0)
            time.sleep(1.0)
            rss_idle = rss_mib(gateway.pid)
            hold = args.rounds * args.interval + 15
            clients = subprocess.Popen(
                [sys.executable, "-m", "tickstream.bench.gateway", "--worker",
                 "--port", str(port), "--token", issue_token(TOKEN_SECRET, WORKSPACE, 3600),
                 "--clients", str(args.clients), "--hold", str(hold),
                 "--clients-sched", args.clients_sched],
                stdout=subprocess.PIPE, text=True,
            )  # fmt: skip
            assert clients.stdout is not None
            ready = json.loads(clients.stdout.readline())
            print(
                f"connected and subscribed {ready['ready']} clients in "
                f"{ready['connect_seconds']:.1f}s; gateway RSS {rss_idle:.0f} MiB idle, "
                f"{rss_mib(gateway.pid):.0f} MiB with clients"
            )
            time.sleep(args.interval)
            idle_cpu = cpu_seconds(gateway.pid)
            time.sleep(args.interval)
            idle_cpu = cpu_seconds(gateway.pid) - idle_cpu  # heartbeats etc. per interval
            busy_cpu = cpu_seconds(gateway.pid)
            histograms = [push_latency_buckets(base)]
            for seq in range(1, args.rounds + 1):
                produce(seq)
                time.sleep(args.interval)
                histograms.append(push_latency_buckets(base))
            busy_cpu = cpu_seconds(gateway.pid) - busy_cpu
            arrivals = json.loads(clients.stdout.readline())["arrivals"]
            all_ms: list[float] = []
            for seq in range(1, args.rounds + 1):
                got = [1000 * x for x in arrivals.get(str(seq), [])]
                all_ms += got
                if got:
                    p50, p99 = percentiles(got, 0.5, 0.99)
                    print(
                        f"round {seq}: {len(got)}/{args.clients} clients, "
                        f"first {min(got):.0f} ms, p50 {p50:.0f} ms, "
                        f"p99 {p99:.0f} ms, max {max(got):.0f} ms "
                        f"(first → last {max(got) - min(got):.0f} ms); gateway wrote 99 % "
                        f"{written_p99(histograms[seq - 1], histograms[seq])} after consuming"
                    )
                else:
                    print(f"round {seq}: no client received the snapshot")
            if all_ms:
                p50, p99 = percentiles(all_ms, 0.5, 0.99)
                print(
                    f"all rounds: p50 {p50:.0f} ms, p99 {p99:.0f} ms (target ≤ 250 ms), "
                    f"max {max(all_ms):.0f} ms"
                )
            summary = push_latency_summary(histograms[-1])
            print(f"gateway push latency (consumed → written), all frames: {summary}")
            per_round = (busy_cpu - idle_cpu * args.rounds) / args.rounds
            print(
                f"gateway CPU per snapshot fanned out to {args.clients} clients: "
                f"{1000 * per_round:.0f} ms ({1e6 * per_round / args.clients:.1f} µs per client; "
                f"idle CPU {1000 * idle_cpu / args.interval:.0f} ms/s); load average "
                f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
            )
        finally:
            for proc in (clients, gateway):
                if proc is not None and proc.poll() is None:
                    proc.terminate()
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        proc.wait(15)
                    if proc.poll() is None:
                        proc.kill()
    return 0


def main(argv: list[str] | None = None) -> int:
    stop_cleanly_on_sigterm()
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--interval", type=float, default=2.0, help="seconds between snapshots")
    parser.add_argument(
        "--clients-sched",
        choices=("idle", "normal"),
        default="idle",
        help="CPU priority of the client process while snapshots are fanned out: idle (it "
        "stands for 10,000 remote browsers, whose CPU is not the gateway's) or normal",
    )
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--token", help=argparse.SUPPRESS)
    parser.add_argument("--hold", type=float, default=30.0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        raise_nofile()
        hold_clients(
            "127.0.0.1",
            args.port,
            args.token,
            args.clients,
            args.hold,
            args.clients_sched == "idle",
        )
        return 0
    return run(args)


if __name__ == "__main__":
    raise SystemExit(main())

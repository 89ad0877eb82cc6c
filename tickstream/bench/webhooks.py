"""Webhook benchmark: a receiver that is down for a while, then back (docs/webhooks.md, "Retries").

    .venv/bin/python -m tickstream.bench.webhooks [--outage 600] [--campaigns 20] [--steady 30]

A real deliverer (``python -m webhooks`` with the default settings: retries doubling from 1 s up to
5 minutes) posts to a receiver on 127.0.0.1 while ``--campaigns`` campaigns each put a snapshot a
second onto ``campaign-stats``. The receiver answers for ``--steady`` seconds, refuses connections
for ``--outage`` seconds, then answers again. Figures: the delay of a delivery while all is well
(snapshot time to receipt), how long after its return the receiver got its first request and every
event of the outage, how many events the outage held back, and whether each event arrived
(repeats counted). Uses ``KAFKA_BOOTSTRAP`` / ``DATABASE_URL`` when set, else private servers.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
import sqlalchemy as sa
from aiohttp import web
from confluent_kafka import Producer

from contract.admin import create_topics
from contract.events import Snapshot, Statistics, WindowCounts, encode
from contract.topics import Topics
from sink.migrate import upgrade
from tickstream.bench import stop_cleanly_on_sigterm
from tickstream.bench.measure import cpu_seconds, percentiles
from tickstream.infra.ports import free_port
from tickstream.infra.testbed import fresh_database, testbed
from tickstream.state_dir import PROJECT_ROOT
from webhooks import subscriptions
from webhooks.events import STATISTICS, WebhookEvent, statistics_id

WORKSPACE = "bench"


@dataclass(slots=True)
class Receiver:
    """Keeps each event id with when it came; refuses connections while stopped."""

    port: int = field(default_factory=free_port)
    received: dict[str, float] = field(default_factory=dict)
    delays: list[float] = field(default_factory=list)
    requests: int = 0
    repeats: int = 0
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def handle(self, request: web.Request) -> web.Response:
        event = msgspec.json.decode(await request.read(), type=WebhookEvent)
        now = time.time()
        self.requests += 1
        if event.id in self.received:
            self.repeats += 1
        else:
            self.received[event.id] = now
            self.delays.append(now - event.created_at.timestamp())
        self.arrived.set()
        return web.Response(status=204)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/hook", self.handle)
        self.runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None


def snapshot(campaign: str, seq: int) -> Snapshot:
    now = datetime.now(UTC)
    return Snapshot(
        campaign_id=campaign,
        campaign_uuid=campaign,
        workspace_id=WORKSPACE,
        seq=seq,
        window=WindowCounts(start=now - timedelta(seconds=1), end=now, sent=1),
        statistics=Statistics(
            total_message_count=100_000,
            total_sent_count=seq,
            total_delivered_count=seq,
            total_read_count=0,
            total_played_count=0,
            total_failed_count=0,
            pending_count=100_000 - seq,
            delivery_rate=100.0,
            read_rate=0.0,
            success_rate=seq / 1000,
            updated_at=now,
        ),
        timestamp=now,
    )


@dataclass(slots=True)
class Campaigns:
    """Every campaign's next snapshot, once a second, onto ``campaign-stats``."""

    producer: Producer
    topic: str
    campaigns: int
    produced: dict[str, float] = field(default_factory=dict)  # event id -> when
    seq: int = 0

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self.seq += 1
            for n in range(self.campaigns):
                item = snapshot(f"c{n}", self.seq)
                self.producer.produce(self.topic, key=item.campaign_id, value=encode(item))
                self.produced[statistics_id(item)] = time.time()
            self.producer.poll(0)
            await asyncio.sleep(1.0)
        self.producer.flush(30)


async def until(receiver: Receiver, condition: Callable[[], bool], within: float) -> None:
    """Wait for ``condition``, looked at after each request the receiver gets."""
    deadline = time.monotonic() + within
    while not condition() and time.monotonic() < deadline:
        receiver.arrived.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(receiver.arrived.wait(), max(0.0, deadline - time.monotonic()))


async def measure(
    args: argparse.Namespace, receiver: Receiver, campaigns: Campaigns, deliverer: int
) -> None:
    stop = asyncio.Event()
    producing = asyncio.create_task(campaigns.run(stop))
    try:
        await receiver.start()
        await asyncio.sleep(args.steady)
        steady = list(receiver.delays)
        await receiver.stop()
        down_at = time.time()
        print(f"receiver down for {args.outage:.0f} s", flush=True)
        await asyncio.sleep(args.outage)
        await receiver.start()
        back_at = time.time()
        held = [i for i, at in campaigns.produced.items() if down_at <= at < back_at]
        seen = receiver.requests
        await until(receiver, lambda: receiver.requests > seen, args.outage + 600)
        first = time.time() - back_at
        waiting = [i for i, at in campaigns.produced.items() if at < back_at]
        await until(receiver, lambda: all(i in receiver.received for i in waiting), 3600)
        caught_up = time.time() - back_at
        stop.set()
        await producing
        everything = set(campaigns.produced)
        await until(receiver, lambda: everything <= receiver.received.keys(), 600)
        lost = everything - receiver.received.keys()
        cpu = cpu_seconds(deliverer)
    finally:
        stop.set()
        await producing
        await receiver.stop()
    p50, p99 = percentiles(steady, 0.5, 0.99)
    print(f"steady: {len(steady)} deliveries, delay p50 {p50 * 1e3:.0f} ms, p99 {p99 * 1e3:.0f} ms")
    print(f"the outage of {args.outage:.0f} s held back {len(held)} events")
    print(f"after the receiver's return: first request {first:.1f} s, all {caught_up:.1f} s")
    print(
        f"events {len(everything)}: lost {len(lost)}, repeated {receiver.repeats}; "
        f"deliverer CPU {cpu:.1f} s"
    )


def main() -> int:
    stop_cleanly_on_sigterm()
    parser = argparse.ArgumentParser(
        prog="python -m tickstream.bench.webhooks", description=__doc__
    )
    parser.add_argument("--outage", type=float, default=600.0, help="seconds the receiver is down")
    parser.add_argument("--campaigns", type=int, default=20, help="campaigns, a snapshot/s each")
    parser.add_argument("--steady", type=float, default=30.0, help="seconds before the outage")
    args = parser.parse_args()
    with (
        testbed("tickstream-bench-webhooks-") as servers,
        fresh_database(servers.postgres.address, f"bench_{uuid.uuid4().hex[:8]}") as url,
    ):
        upgrade(url)
        run(args, servers.kafka.address, url, servers.directory / "webhooks.log")
    return 0


def run(args: argparse.Namespace, bootstrap: str, url: str, log: Path) -> None:
    """One subscription, the deliverer as a process of its own, then :func:`measure`; the
    producer is gone when this returns, before its broker is stopped."""
    topics = Topics(prefix=f"bench{uuid.uuid4().hex[:6]}-", partitions=8)
    create_topics(bootstrap, topics.all())
    receiver = Receiver()
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    subscriptions.add(engine, WORKSPACE, receiver.url, [STATISTICS], subscriptions.new_secret())
    engine.dispose()
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP": bootstrap,
        "DATABASE_URL": url,
        "TOPIC_PREFIX": topics.prefix,
        "TOPIC_PARTITIONS": str(topics.partitions),
        "WEBHOOKS_PORT": str(free_port()),
        "LOG_LEVEL": "WARNING",
    }
    campaigns = Campaigns(
        Producer({"bootstrap.servers": bootstrap}), topics.campaign_stats, args.campaigns
    )
    with log.open("ab") as out:
        deliverer = subprocess.Popen(
            [sys.executable, "-m", "webhooks"],
            env=env,
            cwd=PROJECT_ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        asyncio.run(measure(args, receiver, campaigns, deliverer.pid))
    finally:
        deliverer.terminate()
        deliverer.wait(30)


if __name__ == "__main__":
    raise SystemExit(main())

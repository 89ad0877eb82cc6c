"""End-to-end benchmark: the whole pipeline on this machine against the original design.

``tickstream bench`` / ``python -m tickstream.bench.pipeline [--rate 5000] [--seconds 10]``

Pipeline: the four services (as ``tickstream up`` runs them) on the local broker and cluster
(started here, or ``KAFKA_BOOTSTRAP`` / ``DATABASE_URL``). Acks go through ingest's bulk path
(``POST /v1/events``); a WebSocket client on the gateway's ``/ws`` receives the snapshots.

* throughput (first, so that it also warms the servers up): acks sent as fast as the client can
  for ``--seconds``; the sustained rate is the acks counted on the WebSocket divided by the time
  from the first request to the last snapshot;
* latency: acks offered at ``--rate`` for ``--seconds``; an ack's latency runs from the moment
  ingest answered 2xx for its request to the first snapshot on the WebSocket whose campaign
  counter includes it (counter-based: the k-th accepted ack of a campaign is in once the
  campaign's delivered count reaches k).

Baseline, the original Laravel design, on the same data and the same PostgreSQL: one
``UPDATE messages SET status=… WHERE id=…`` per ack, each its own transaction (a queued job per
webhook) on ``--baseline-workers`` connections, and every 5 s a recount per campaign
(``SELECT status, count(*) … GROUP BY status``). An ack is visible on the dashboard once a recount
that started after its commit has finished.

Traffic goes to 127.0.0.1 only. Everything this starts is stopped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
import json
import os
import secrets
import sys
import time
import urllib.request
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import aiohttp
import psycopg
from prometheus_client.parser import text_string_to_metric_families

from contract.settings import sqlalchemy_url
from gateway.auth import issue_token
from tickstream.bench import stop_cleanly_on_sigterm
from tickstream.bench.measure import percentiles
from tickstream.deployment import Deployment
from tickstream.infra.dev_secrets import dev_secrets
from tickstream.infra.ports import free_port
from tickstream.infra.postgres import libpq_url
from tickstream.infra.testbed import testbed
from tickstream.up import Stack

WORKSPACE = "bench"
RECOUNT_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class Load:
    """Messages of one phase: ``campaigns`` × ``per_campaign``, one delivered ack each."""

    tag: str
    campaigns: int
    per_campaign: int

    def campaign(self, c: int) -> str:
        return f"{self.tag}-c{c}"

    def message(self, c: int, m: int) -> str:
        return f"{self.tag}-c{c}-m{m}"

    @property
    def total(self) -> int:
        return self.campaigns * self.per_campaign

    def batches(self, size: int) -> list[tuple[int, list[str]]]:
        """``(campaign, message ids)`` chunks, campaigns interleaved, in the order they are sent."""
        chunks = []
        for start in range(0, self.per_campaign, size):
            for c in range(self.campaigns):
                ids = [
                    self.message(c, m) for m in range(start, min(start + size, self.per_campaign))
                ]
                chunks.append((c, ids))
        return chunks


def weighted(latencies: list[tuple[float, int]]) -> list[float]:
    return [latency for latency, count in latencies for _ in range(count)]


def count_latencies(
    accepted: dict[int, list[tuple[float, int]]], seen: dict[int, list[tuple[float, int]]]
) -> list[tuple[float, int]]:
    """(latency, acks) per request: accepted at ``t`` as the k-th ack of its campaign, visible at
    the first observation with a count ≥ k. Both inputs: campaign → [(time, value)]; ``accepted``
    values are request sizes, ``seen`` values are cumulative counts."""
    out = []
    for campaign, requests in accepted.items():
        observed = sorted(seen.get(campaign, []))
        best = []  # running maximum of the counts seen, for bisect
        top = 0
        for _, value in observed:
            top = max(top, value)
            best.append(top)
        cumulative = 0
        for at, size in sorted(requests):
            cumulative += size
            i = bisect.bisect_left(best, cumulative)
            if i < len(observed):
                out.append((max(0.0, observed[i][0] - at), size))
    return out


# --------------------------------------------------------------------------- pipeline side


@dataclass(slots=True)
class Watcher:
    """The gateway's WebSocket: every snapshot's delivered count per campaign, with its time."""

    seen: dict[str, list[tuple[float, int]]] = field(default_factory=lambda: defaultdict(list))
    dispatched: dict[str, int] = field(default_factory=dict)
    # seconds from each snapshot's window end to its arrival here, per campaign
    after_window: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))

    async def run(self, url: str) -> None:
        async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
            await ws.send_json({"action": "subscribe", "channel": f"workspace.{WORKSPACE}"})
            async for frame in ws:
                if frame.type != aiohttp.WSMsgType.TEXT:
                    continue
                now = time.monotonic()
                message = json.loads(frame.data)
                if message.get("type") != "snapshot":
                    continue
                data = message["data"]
                stats = data["statistics"]
                self.seen[data["campaign_id"]].append((now, stats["total_delivered_count"]))
                window_end = datetime.fromisoformat(data["window"]["end"]).timestamp()
                self.after_window[data["campaign_id"]].append(time.time() - window_end)
                self.dispatched[data["campaign_id"]] = stats.get("dispatched_count", 0)

    def delivered(self, campaign: str) -> int:
        return max((count for _, count in self.seen.get(campaign, [])), default=0)

    async def wait(self, load: Load, dispatched: bool, within: float) -> bool:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            counts = (
                [self.dispatched.get(load.campaign(c), 0) for c in range(load.campaigns)]
                if dispatched
                else [self.delivered(load.campaign(c)) for c in range(load.campaigns)]
            )
            if all(n >= load.per_campaign for n in counts):
                return True
            await asyncio.sleep(0.05)
        return False


class Ingest:
    def __init__(self, session: aiohttp.ClientSession, token: str) -> None:
        self.session = session
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    async def post(self, path: str, body: bytes) -> None:
        for _ in range(50):
            async with self.session.post(path, data=body, headers=self.headers) as resp:
                if resp.status < 300:
                    return
                if resp.status != 503:
                    raise RuntimeError(f"{path}: {resp.status} {await resp.text()}")
            await asyncio.sleep(0.2)
        raise RuntimeError(f"{path}: Kafka unavailable")

    async def prepare(self, load: Load) -> float:
        """Register the campaigns and dispatch every message; seconds taken by ingest."""
        started = time.monotonic()
        campaigns = [
            {
                "campaign_id": load.campaign(c),
                "workspace_id": WORKSPACE,
                "name": load.campaign(c),
                "total_recipients": load.per_campaign,
            }
            for c in range(load.campaigns)
        ]
        await self.post("/v1/campaigns", json.dumps(campaigns).encode())
        bodies = [
            json.dumps(
                [
                    {"message_id": m, "campaign_id": load.campaign(c), "workspace_id": WORKSPACE}
                    for m in ids
                ]
            ).encode()
            for c, ids in load.batches(1000)
        ]
        gate = asyncio.Semaphore(4)

        async def one(body: bytes) -> None:
            async with gate:
                await self.post("/v1/dispatches", body)

        await asyncio.gather(*(one(body) for body in bodies))
        return time.monotonic() - started

    async def acks(
        self, load: Load, batch: int, rate: float
    ) -> tuple[dict[int, list[tuple[float, int]]], float, float]:
        """Send one delivered ack per message, ``rate`` acks/s (0: as fast as possible);
        (campaign → [(accepted at, acks)], first send, last accept)."""
        chunks = load.batches(batch)
        bodies = [
            (
                c,
                len(ids),
                json.dumps([{"message_id": m, "status": "delivered"} for m in ids]).encode(),
            )
            for c, ids in chunks
        ]
        accepted: dict[int, list[tuple[float, int]]] = defaultdict(list)
        gate = asyncio.Semaphore(64 if rate else 8)
        started = time.monotonic()
        sent = 0

        async def one(c: int, size: int, body: bytes) -> None:
            try:
                await self.post("/v1/events", body)
                accepted[c].append((time.monotonic(), size))
            finally:
                gate.release()

        tasks = []
        for c, size, body in bodies:
            if rate:
                delay = started + sent / rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            await gate.acquire()
            tasks.append(asyncio.create_task(one(c, size, body)))
            sent += size
        await asyncio.gather(*tasks)
        last = max(at for requests in accepted.values() for at, _ in requests)
        return accepted, started, last


def scrape(port: int) -> dict[str, float]:
    """Every sample of a service's ``/metrics``: by name summed over labels, and by name with
    its labels but ``le`` (``name{stage="1"}``)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    values: dict[str, float] = defaultdict(float)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            values[sample.name] += sample.value
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()) if k != "le")
            if labels:
                values[f"{sample.name}{{{labels}}}"] += sample.value
    return values


RECORD_AGE = "tickstream_worker_record_age_seconds"


async def settle(ports: dict[str, int], within: float = 300.0) -> bool:
    """Wait until the worker and the sink have worked off what the setup left them (their
    counters stop moving), so the latency phase measures latency and not the setup's backlog."""
    watched = (
        ("worker", "tickstream_worker_events_total"),
        ("worker", f'{RECORD_AGE}_count{{stage="2"}}'),  # partials stage 2 has taken in
        ("sink", "sink_records_total"),
    )
    deadline = time.monotonic() + within
    last: tuple[float, ...] = ()
    while time.monotonic() < deadline:
        now = tuple(scrape(ports[name]).get(metric, 0.0) for name, metric in watched)
        if now == last:
            return True
        last = now
        await asyncio.sleep(2.0)
    return False


STAGES = (
    ("ingest: request → Kafka ack", "ingest", "tickstream_ingest_produce_seconds"),
    (
        "worker: ack-events append → stage 1",
        "worker",
        f'{RECORD_AGE}{{stage="1"}}',
    ),
    (
        "worker: partial append → stage 2",
        "worker",
        f'{RECORD_AGE}{{stage="2"}}',
    ),
    ("worker: window end → snapshot on topic", "worker", "tickstream_worker_snapshot_lag_seconds"),
    ("sink: batch first record → commit", "sink", "sink_batch_seconds"),
    ("gateway: snapshot in → frame written", "gateway", "gateway_push_latency_seconds"),
)


def stage_means(
    before: dict[str, dict[str, float]], after: dict[str, dict[str, float]]
) -> list[str]:
    lines = []
    for label, service, metric in STAGES:
        name, brace, labels = metric.partition("{")
        count_key, sum_key = f"{name}_count{brace}{labels}", f"{name}_sum{brace}{labels}"
        count = after[service].get(count_key, 0) - before[service].get(count_key, 0)
        total = after[service].get(sum_key, 0) - before[service].get(sum_key, 0)
        mean = (
            f"{total / count * 1000:8.1f} ms mean over {count:,.0f}" if count else "   (no samples)"
        )
        lines.append(f"    {label:40} {mean}")
    events = after["worker"].get("tickstream_worker_events_total", 0) - before["worker"].get(
        "tickstream_worker_events_total", 0
    )
    lines.append(f"    {'worker: events joined':40} {events:11,.0f}")
    return lines


# --------------------------------------------------------------------------- baseline side


class Baseline:
    """The original design on the same PostgreSQL: a row per message, updated per ack."""

    def __init__(self, url: str, workers: int) -> None:
        self.url = libpq_url(url)
        self.workers = workers
        self.table = f"bench_messages_{secrets.token_hex(3)}"

    def create(self, loads: Sequence[Load]) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(
                f"CREATE TABLE {self.table} (id text PRIMARY KEY, campaign_id text NOT NULL, "
                "status text NOT NULL, updated_at timestamptz)"
            )
            conn.execute(f"CREATE INDEX ON {self.table} (campaign_id)")
            with conn.cursor().copy(
                f"COPY {self.table} (id, campaign_id, status) FROM STDIN"
            ) as copy:
                for load in loads:
                    for c in range(load.campaigns):
                        for m in range(load.per_campaign):
                            copy.write_row((load.message(c, m), load.campaign(c), "pending"))
            conn.execute(f"ANALYZE {self.table}")

    def drop(self) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f"DROP TABLE IF EXISTS {self.table}")

    async def run(self, load: Load, rate: float, seconds: float) -> tuple[int, float, list[float]]:
        """Offer the load's acks at ``rate`` and give the workers ``seconds`` more to catch up
        (``rate`` 0: all at once, ``seconds`` of work in total); (acks applied, seconds the
        updates took, latencies of the applied acks)."""
        queue: asyncio.Queue[tuple[str, str, float] | None] = asyncio.Queue()
        committed: dict[str, list[float]] = defaultdict(list)  # campaign -> commit times
        offered: dict[str, list[float]] = defaultdict(list)  # campaign -> offer times, in order
        recounts: dict[str, list[tuple[float, float]]] = defaultdict(list)
        sql = f"UPDATE {self.table} SET status = %s, updated_at = now() WHERE id = %s"
        started = time.monotonic()
        finished = asyncio.Event()

        async def worker() -> None:
            async with await psycopg.AsyncConnection.connect(self.url, autocommit=True) as conn:
                while (item := await queue.get()) is not None:
                    message_id, campaign, _ = item
                    await conn.execute(sql, ("delivered", message_id))
                    committed[campaign].append(time.monotonic())
                    queue.task_done()

        async def recount() -> None:
            query = (
                f"SELECT status, count(*) FROM {self.table} WHERE campaign_id = %s GROUP BY status"
            )
            async with await psycopg.AsyncConnection.connect(self.url, autocommit=True) as conn:
                while True:
                    for c in range(load.campaigns):
                        begin = time.monotonic()
                        await (await conn.execute(query, (load.campaign(c),))).fetchall()
                        recounts[load.campaign(c)].append((begin, time.monotonic()))
                    if finished.is_set():
                        return
                    await asyncio.sleep(RECOUNT_SECONDS)

        recounter = asyncio.create_task(recount())
        workers = [asyncio.create_task(worker()) for _ in range(self.workers)]
        items = [(m, load.campaign(c)) for c, ids in load.batches(50) for m in ids]
        for sent, (message_id, campaign) in enumerate(items):
            if rate:
                delay = started + sent / rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            now = time.monotonic()
            queue.put_nowait((message_id, campaign, now))
            offered[campaign].append(now)
        # let the workers catch up for at most `seconds` more, then drop what is still queued
        deadline = time.monotonic() + (seconds if rate else started + seconds - time.monotonic())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(queue.join(), max(0.0, deadline - time.monotonic()))
        while not queue.empty():
            queue.get_nowait()
        for _ in workers:
            queue.put_nowait(None)
        await asyncio.gather(*workers)
        applied = sum(len(times) for times in committed.values())
        took = max((t for times in committed.values() for t in times), default=started) - started
        finished.set()
        await recounter
        latencies = []
        for campaign, commits in committed.items():
            ends = recounts[campaign]
            starts = [begin for begin, _ in ends]
            # commits of one campaign in commit order pair with its offers in offer order
            # (a queue hands them out in order; with several workers this is exact up to the
            # reordering of a few in-flight statements)
            for offered_at, commit_at in zip(offered[campaign], sorted(commits), strict=False):
                i = bisect.bisect_left(starts, commit_at)
                if i < len(ends):
                    latencies.append(ends[i][1] - offered_at)
        return applied, took, latencies


# --------------------------------------------------------------------------- the run


async def measure(args: argparse.Namespace, settings: Deployment) -> None:
    run_id = secrets.token_hex(3)
    # 10 campaigns a phase: `rate` acks/s for `seconds`, then max-rate × seconds acks at once
    latency_load = Load(f"lat{run_id}", 10, max(1, int(args.rate * args.seconds / 10)))
    max_load = Load(f"max{run_id}", 10, max(1, int(args.max_rate * args.seconds / 10)))
    token = issue_token(settings.gateway.token_secret, WORKSPACE, ttl_seconds=3600)
    watcher = Watcher()
    ws_url = f"ws://127.0.0.1:{settings.gateway.gateway_port}/ws?token={token}"
    watching = asyncio.create_task(watcher.run(ws_url))
    ports = {
        "ingest": settings.ingest.ingest_port,
        "worker": settings.worker.worker_port,
        "sink": settings.sink.sink_port,
        "gateway": settings.gateway.gateway_port,
    }
    timeout = aiohttp.ClientTimeout(total=60)
    connector = aiohttp.TCPConnector(limit=64)
    base = f"http://127.0.0.1:{settings.ingest.ingest_port}"
    out: list[str] = []
    async with aiohttp.ClientSession(base, timeout=timeout, connector=connector) as session:
        ingest = Ingest(session, settings.ingest.ingest_api_token)
        await asyncio.sleep(1.0)  # the WebSocket subscribes
        print(f"dispatching {latency_load.total + max_load.total:,} messages…", file=sys.stderr)
        for load in (latency_load, max_load):
            took = await ingest.prepare(load)
            ready = await watcher.wait(load, dispatched=True, within=300)
            out.append(
                f"  setup: {load.total:,} dispatches accepted in {took:.1f}s"
                + ("" if ready else "  (the worker had not joined them all after 300 s)")
            )

        if not await settle(ports):
            out.append("  (the worker or the sink was still busy with the setup after 300 s)")
        # Throughput first: it also warms the servers up. A broker just started spends much of a
        # core compiling (its JIT) for its first minutes, which a long-running one does not.
        print(f"throughput phase: {max_load.total:,} acks as fast as possible…", file=sys.stderr)
        accepted, first, last = await ingest.acks(max_load, batch=500, rate=0)
        complete = await watcher.wait(max_load, dispatched=False, within=300)
        final = max(
            (t for c in range(max_load.campaigns) for t, _ in watcher.seen[max_load.campaign(c)]),
            default=last,
        )
        pipeline_rate = max_load.total / max(1e-9, final - first)
        throughput = (
            f"  throughput: {max_load.total:,} acks; ingest accepted "
            f"{max_load.total / max(1e-9, last - first):,.0f} acks/s; sustained end to end "
            f"{pipeline_rate:,.0f} acks/s   target ≥ 10,000"
            + ("" if complete else "  (NOT complete within 300 s)")
        )
        if not await settle(ports):
            out.append(
                "  (the worker or the sink was still busy with the throughput phase after 300 s)"
            )
        print(f"latency phase: {args.rate:,.0f} acks/s for {args.seconds:.0f}s…", file=sys.stderr)
        before = {name: scrape(port) for name, port in ports.items()}
        accepted, first, last = await ingest.acks(latency_load, batch=args.batch, rate=args.rate)
        complete = await watcher.wait(latency_load, dispatched=False, within=120)
        after = {name: scrape(port) for name, port in ports.items()}
        seen = {c: watcher.seen[latency_load.campaign(c)] for c in range(latency_load.campaigns)}
        lat = percentiles(weighted(count_latencies(accepted, seen)), 0.5, 0.95, 0.99)
        out.append(
            f"  offered {args.rate:,.0f} acks/s for {args.seconds:.0f}s in requests of "
            f"{args.batch}: ingest accepted "
            f"{latency_load.total / max(1e-9, last - first):,.0f} acks/s"
            + ("" if complete else "  (NOT every ack reached the WebSocket within 120 s)")
        )
        out.append(
            f"  end-to-end latency (ingest 2xx → snapshot on /ws): p50 {lat[0]:.3f}s  "
            f"p95 {lat[1]:.3f}s  p99 {lat[2]:.3f}s   "
            f"target p95 ≤ {settings.ingest.window_seconds + 0.5:.1f}s"
        )
        out.append("  per stage during the latency phase:")
        out += stage_means(before, after)
        arrivals = percentiles(
            (
                t
                for c in range(latency_load.campaigns)
                for t in watcher.after_window[latency_load.campaign(c)]
            ),
            0.5,
            0.95,
        )
        out.append(
            f"    {'window end → snapshot on /ws':40} p50 {arrivals[0] * 1000:.0f} ms, "
            f"p95 {arrivals[1] * 1000:.0f} ms"
        )
        out.append(throughput)
    watching.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await watching

    baseline = Baseline(settings.sink.database_url, args.baseline_workers)
    baseline.create([latency_load, max_load])
    try:
        print("baseline: the same acks at the same rate…", file=sys.stderr)
        applied, took, latencies = await baseline.run(latency_load, args.rate, args.seconds * 6)
        base_lat = percentiles(latencies, 0.5, 0.95, 0.99)
        print("baseline: as fast as possible…", file=sys.stderr)
        max_applied, max_took, _ = await baseline.run(max_load, 0, args.seconds)
    finally:
        baseline.drop()
    baseline_rate = max_applied / max(1e-9, max_took)
    report = [
        "",
        f"tickstream bench — window {settings.worker.window_seconds}s, "
        f"{settings.worker.topic_partitions} partitions, {os.cpu_count()} cores "
        "(shared with other work: load average "
        f"{os.getloadavg()[0]:.1f}); figures are noisy",
        "pipeline: ingest → Kafka → worker → gateway /ws (sink writing PostgreSQL alongside)",
        *out,
        f"baseline: UPDATE per ack ({args.baseline_workers} connections, a transaction each) "
        f"+ recount per campaign every {RECOUNT_SECONDS:.0f}s, same PostgreSQL",
        f"  offered {args.rate:,.0f} acks/s: applied {applied:,} of {latency_load.total:,} "
        f"acks in {took:.1f}s "
        f"({applied / max(1e-9, took):,.0f} acks/s)",
        f"  latency (offered → visible after a recount): p50 {base_lat[0]:.3f}s  "
        f"p95 {base_lat[1]:.3f}s  p99 {base_lat[2]:.3f}s",
        f"  throughput: {baseline_rate:,.0f} acks/s",
        "ratio (pipeline / baseline):",
        f"  throughput ×{pipeline_rate / max(1e-9, baseline_rate):.1f}; "
        f"p95 latency baseline ÷ pipeline ×{base_lat[1] / max(1e-9, lat[1]):.1f}",
    ]
    print("\n".join(report), flush=True)


def run(args: argparse.Namespace) -> int:
    stop_cleanly_on_sigterm()
    from contract.admin import create_topics
    from contract.topics import Topics
    from sink.migrate import upgrade

    with testbed("tickstream-bench-") as servers:
        work = servers.directory
        env = {
            **os.environ,
            "KAFKA_BOOTSTRAP": servers.kafka.address,
            "DATABASE_URL": sqlalchemy_url(servers.postgres.address),
        }
        env.update(dev_secrets(work, {}))  # new ones, as a fresh `tickstream up` makes them
        ingest_port = free_port()
        env.update(
            TOPIC_PREFIX=f"bench{secrets.token_hex(3)}-",
            INGEST_PORT=str(ingest_port),
            GATEWAY_PORT=str(free_port()),
            SINK_PORT=str(free_port()),
            WORKER_PORT=str(free_port()),
            WEBHOOKS_PORT=str(free_port()),
            PUBLIC_BASE_URL=f"http://127.0.0.1:{ingest_port}",
            WORKER_DATA_DIR=str(work / "worker"),
            BIND_HOST="127.0.0.1",
            LOG_LEVEL="WARNING",
        )
        settings = Deployment.from_env(env)
        create_topics(settings.ingest.kafka_bootstrap, Topics.from_settings(settings.worker).all())
        upgrade(settings.sink.database_url)
        stack = Stack.services(env, work / "logs")
        stack.start()
        try:
            stack.wait_healthy(180)
            asyncio.run(measure(args, settings))
        finally:
            stack.stop()
    return 0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rate", type=float, default=5000.0, help="acks/s of the latency phase")
    parser.add_argument(
        "--max-rate",
        type=float,
        default=15000.0,
        help="the throughput phase sends max-rate × seconds acks, as fast as it can",
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each phase")
    parser.add_argument(
        "--batch", type=int, default=50, help="acks per request in the latency phase"
    )
    parser.add_argument(
        "--baseline-workers", type=int, default=4, help="the baseline's queue workers"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tickstream.bench.pipeline", description=__doc__
    )
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())

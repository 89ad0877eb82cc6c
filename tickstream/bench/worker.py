"""Worker benchmark: with 1,000,000 (and, asked for, 10,000,000) tracked messages, one worker's
resident memory, bytes on disk, cold restore rate, restart to current after SIGTERM and SIGKILL,
standby takeover, sustained events/s, the memory ``STATE_MEMORY_MB`` gives; then snapshot lag.

``python -m tickstream.bench.worker [--sizes 1000000,10000000]`` — starts its own broker (or uses
``KAFKA_BOOTSTRAP``), sends traffic to 127.0.0.1 only, prints figures, stops what it started.

A size's state is written straight to the ``messages`` changelog: what a worker holds after a
dispatch and a delivered ack of each message, and the attempt each dispatch notes for its
recipient (two table keys per message), encoded by the worker's own code. Pushing 20,000,000
events through one worker would take most of an hour at 10,000,000 messages; writing the
changelog takes minutes, and the worker's cold restore then reads every record of it.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import NamedTuple

from confluent_kafka import Consumer, Producer, TopicPartition

from contract.admin import create_topics
from contract.events import (
    AckEvent,
    Attempt,
    Dispatch,
    MessageEvent,
    decode_snapshot,
    encode,
    skip_message_id,
)
from contract.partitioning import partition_for
from contract.topics import Topics
from streams.message_state import EMPTY, join
from tickstream.bench import stop_cleanly_on_sigterm
from tickstream.bench.measure import cpu_seconds, percentiles, rss_mib
from tickstream.infra.ports import free_port
from tickstream.infra.testbed import kafka_server
from tickstream.simulator.workload import produce_events

PARTITIONS = 8
PER_CAMPAIGN = 1_000
STATE_TAG = "st"  # campaigns and messages of the state written to the changelog
# Live traffic on top of a size's state: fresh messages in campaigns of 1,000.
LIVE_EVENTS = 1_000_000
LIVE_EVENTS_SMALL_RECORDS = 400_000
# Read acks for stored messages, to fill RocksDB's cache before reading the resident memory.
CACHE_PROBE_EVENTS = 200_000
METRIC = re.compile(rb"^(tickstream_worker_\w+) (\S+)$", re.M)
RESTORED = re.compile(
    r"table messages: partitions \[[^\]]*\]: read (\d+) changelog records to the end in (\S+) s"
)
STANDBY_CAUGHT_UP = re.compile(r"table messages: standby partitions \[[^\]]*\]: read (\d+)")
STANDBY_RESTORED = re.compile(
    r"table messages: standby partitions \[[^\]]*\]: read (\d+) changelog records to the end in "
    r"(\S+) s"
)


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load {one:.1f}/{five:.1f}"


class WorkerProcess:
    """``python -m streams`` with its own log; started again with :meth:`restart`."""

    def __init__(
        self, bootstrap: str, topics: Topics, workdir: Path, state: Path, memory_mb: int = 64
    ) -> None:
        self.bootstrap = bootstrap
        self.topics = topics
        self.workdir = workdir
        self.state = state
        self.port = free_port()
        self.memory_mb = memory_mb
        self.log = workdir / f"worker-{self.port}.log"
        self.proc = self._spawn()

    def _spawn(self) -> subprocess.Popen[bytes]:
        env = dict(os.environ)
        env.update(
            KAFKA_BOOTSTRAP=self.bootstrap,
            TOPIC_PREFIX=self.topics.prefix,
            TOPIC_PARTITIONS=str(self.topics.partitions),
            WORKER_PORT=str(self.port),
            WINDOW_SECONDS="1.0",
            STATE_DIR=str(self.state),
            STATE_MEMORY_MB=str(self.memory_mb),
            LOG_LEVEL="INFO",
        )
        self.log_start = self.log.stat().st_size if self.log.exists() else 0
        self.started = time.monotonic()
        with self.log.open("ab") as out:
            return subprocess.Popen(
                [sys.executable, "-m", "streams"],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def restart(self, memory_mb: int | None = None) -> None:
        self.memory_mb = memory_mb or self.memory_mb
        self.proc = self._spawn()

    def this_run(self) -> str:
        """The log since the latest start."""
        with self.log.open("rb") as log:
            log.seek(self.log_start)
            return log.read().decode(errors="replace")

    def wait_log(self, pattern: re.Pattern[str], timeout: float) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = pattern.search(self.this_run())
            if found:
                return found
            if self.proc.poll() is not None:
                raise RuntimeError(f"the worker exited ({self.proc.returncode}); see {self.log}")
            time.sleep(0.2)
        raise TimeoutError(f"no {pattern.pattern!r} in {self.log}")

    def wait_standby_current(self, timeout: float, settle: float = 5.0) -> None:
        """Until the standby partitions of the latest rebalance were read to their end, and no
        rebalance followed for ``settle`` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.this_run()
            latest = text.rfind("Restore complete!")
            if latest >= 0 and STANDBY_CAUGHT_UP.search(text, latest):
                time.sleep(settle)
                if self.this_run().rfind("Restore complete!") == latest:
                    return
            time.sleep(0.5)
        raise TimeoutError(f"the standby of {self.log} never caught up")

    def metrics(self) -> dict[str, float]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=2) as r:
                return {k.decode(): float(v) for k, v in METRIC.findall(r.read())}
        except OSError:
            return {}

    def events(self) -> float:
        return self.metrics().get("tickstream_worker_events_total", 0.0)

    def wait_events(self, total: float, timeout: float) -> list[Sample]:
        """Samples of (seconds, events processed, CPU seconds) until ``total`` are processed."""
        samples: list[Sample] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            count = self.events()
            samples.append(Sample(time.monotonic(), count, cpu_seconds(self.proc.pid)))
            if count >= total:
                break
            time.sleep(0.5)
        return samples

    def rss(self) -> float:
        return rss_mib(self.proc.pid)

    def disk_bytes(self) -> int:
        return sum(f.stat().st_size for f in self.state.rglob("*") if f.is_file())

    def stop(self, sig: int = signal.SIGTERM) -> float:
        """Seconds until the process exited."""
        started = time.monotonic()
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
            try:
                self.proc.wait(120)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(60)
        return time.monotonic() - started


class Sample(NamedTuple):
    seconds: float
    events: float
    cpu: float


@dataclass(frozen=True)
class Run:
    """Between 10 % and 90 % of a run: start-up and the tail left out."""

    events_per_second: float
    cpu_us_per_event: float


def steady_part(samples: list[Sample], start: float, total: float) -> Run:
    low = next(s for s in samples if s.events >= start + (total - start) * 0.1)
    high = next((s for s in samples if s.events >= start + (total - start) * 0.9), samples[-1])
    events = max(high.events - low.events, 1.0)
    return Run(
        events_per_second=events / max(high.seconds - low.seconds, 1e-9),
        cpu_us_per_event=(high.cpu - low.cpu) / events * 1e6,
    )


def message_id(tag: str, campaign: int, message: int) -> str:
    return f"{tag}-{campaign}-{message}"


def write_state(bootstrap: str, topics: Topics, messages: int, at: datetime) -> int:
    """The ``messages`` changelog a worker leaves after a dispatch and a delivered ack of each
    message, and the attempt noted for each recipient; returns its records."""
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "acks": "all",
            "linger.ms": 50,
            "batch.size": 1024 * 1024,
            "queue.buffering.max.messages": 1_000_000,
        }
    )
    topic = topics.changelog("messages")
    records = 0
    for m in range(messages):
        campaign, index = divmod(m, PER_CAMPAIGN)
        key = message_id(STATE_TAG, campaign, index)
        campaign_id = f"{STATE_TAG}-{campaign}"
        sent = at + timedelta(milliseconds=m % 3_600_000)  # within an hour
        dispatch = Dispatch(
            message_id=key,
            campaign_id=campaign_id,
            workspace_id="w1",
            recipient=str(index),
            received_at=sent,
        )
        ack = AckEvent(message_id=key, status="delivered", received_at=sent + timedelta(seconds=2))
        skip_key = skip_message_id(campaign_id, str(index))
        attempt = join(EMPTY, Attempt(message_id=skip_key, received_at=sent))
        for k, state in ((key, join(join(EMPTY, dispatch), ack)), (skip_key, attempt)):
            while True:
                try:
                    producer.produce(
                        topic,
                        key=k.encode(),
                        value=encode(state),
                        partition=partition_for(k, topics.partitions),
                    )
                    break
                except BufferError:
                    producer.poll(0.1)
            records += 1
        if m % 10_000 == 0:
            producer.poll(0)
    if producer.flush(300) != 0:
        raise RuntimeError("Kafka did not acknowledge the state")
    return records


def live_events(
    messages: int, tag: str, at: datetime, per_campaign: int = PER_CAMPAIGN
) -> list[MessageEvent]:
    """A dispatch and a delivered ack per message, campaign after campaign."""
    events: list[MessageEvent] = []
    for m in range(messages):
        campaign, index = divmod(m, per_campaign)
        key = message_id(tag, campaign, index)
        events.append(
            Dispatch(
                message_id=key,
                campaign_id=f"{tag}-{campaign}",
                workspace_id="w1",
                recipient=str(index),
                received_at=at,
            )
        )
        events.append(
            AckEvent(message_id=key, status="delivered", received_at=at + timedelta(seconds=2))
        )
    return events


def read_acks(message_ids: list[str], at: datetime) -> list[MessageEvent]:
    return [AckEvent(message_id=m, status="read", received_at=at) for m in message_ids]


class Probes:
    """One read ack per stage-1 partition, each for a stored message of a campaign none was read
    in yet: the worker is current once every campaign's snapshot shows its read."""

    def __init__(self, messages: int, partitions: int) -> None:
        self._campaigns = iter(range(messages // PER_CAMPAIGN - 1, -1, -1))  # from the last
        self.partitions = partitions

    def next_round(self) -> dict[str, str]:
        """Per campaign, the message its probe reads."""
        chosen: dict[str, str] = {}
        for partition in range(self.partitions):
            campaign = next(self._campaigns)
            for index in range(PER_CAMPAIGN):
                key = message_id(STATE_TAG, campaign, index)
                if partition_for(key, self.partitions) == partition:
                    chosen[f"{STATE_TAG}-{campaign}"] = key
                    break
        return chosen


def snapshot_positions(bootstrap: str, topics: Topics) -> Consumer:
    """A consumer of ``campaign-stats`` positioned at its current end."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"bench-{uuid.uuid4().hex}"})
    tps = []
    for p in range(topics.partitions):
        _, high = consumer.get_watermark_offsets(TopicPartition(topics.campaign_stats, p), 10)
        tps.append(TopicPartition(topics.campaign_stats, p, high))
    consumer.assign(tps)
    return consumer


def until_current(
    bootstrap: str, topics: Topics, probes: Probes, started: float, timeout: float = 600
) -> float:
    """Send a round of probes; seconds from ``started`` until every probe shows in a snapshot."""
    consumer = snapshot_positions(bootstrap, topics)
    try:
        waiting = probes.next_round()
        produce_events(bootstrap, topics, read_acks(list(waiting.values()), datetime.now(UTC)))
        deadline = time.monotonic() + timeout
        while waiting and time.monotonic() < deadline:
            for msg in consumer.consume(500, 0.2):
                if msg.error():
                    continue
                snap = decode_snapshot(msg.value() or b"")
                if snap.campaign_id in waiting and snap.statistics.total_read_count >= 1:
                    del waiting[snap.campaign_id]
        if waiting:
            raise TimeoutError(f"probes never showed: {sorted(waiting)}")
        return time.monotonic() - started
    finally:
        consumer.close()


def measure_rate(worker: WorkerProcess, before: float, events: int, label: str, size: int) -> Run:
    samples = worker.wait_events(before + events, timeout=3600)
    run = steady_part(samples, before, before + events)
    print(
        f"[{size:,}] {label}: sustained {run.events_per_second:,.0f} events/s, "
        f"{run.cpu_us_per_event:.1f} µs of worker CPU per event ({load()})",
        flush=True,
    )
    return run


def bench_size(
    bootstrap: str, workdir: Path, size: int, memory_curve: list[int], memory_mb: int
) -> None:
    with contextlib.ExitStack() as running:
        _bench_size(running, bootstrap, workdir, size, memory_curve, memory_mb)


def _bench_size(
    running: contextlib.ExitStack,
    bootstrap: str,
    workdir: Path,
    size: int,
    memory_curve: list[int],
    memory_mb: int,
) -> None:
    """The figures of one size; ``running`` stops the workers however this ends."""
    topics = Topics(prefix=f"bench{uuid.uuid4().hex[:6]}-", partitions=PARTITIONS)
    create_topics(bootstrap, topics.all())
    now = datetime.now(UTC)
    started = time.monotonic()
    records = write_state(bootstrap, topics, size, now - timedelta(hours=2))
    print(
        f"[{size:,}] state written to the changelog: {records:,} records in "
        f"{time.monotonic() - started:.0f} s",
        flush=True,
    )

    # cold restore: an empty disk, the whole changelog
    worker = WorkerProcess(bootstrap, topics, workdir, workdir / f"state-{size}", memory_mb)
    running.callback(worker.stop)
    found = worker.wait_log(RESTORED, timeout=3600)
    read, seconds = int(found.group(1)), float(found.group(2))
    worker.wait_log(re.compile("Worker ready"), timeout=600)
    ready = time.monotonic() - worker.started
    tracked = worker.metrics().get("tickstream_worker_tracked_messages", 0)
    print(
        f"[{size:,}] cold restore: {read:,} changelog records in {seconds:.1f} s "
        f"({read / max(seconds, 1e-9):,.0f} records/s); start to ready {ready:.1f} s; "
        f"{tracked:,.0f} table keys tracked ({load()})",
        flush=True,
    )
    # a cold restore sends every campaign's partial (no other worker's were marked here): the
    # worker is current once stage 2 has taken them all and a new ack shows behind them
    probes = Probes(size, topics.partitions)
    took = until_current(bootstrap, topics, probes, worker.started)
    print(
        f"[{size:,}] cold restore to current: {took:.1f} s from the start until every "
        f"partition's new ack showed ({load()})",
        flush=True,
    )
    time.sleep(5)
    print(f"[{size:,}] resident memory after the restore, idle: {worker.rss():,.0f} MiB")

    # throughput on top of the state: backlogs written while the worker is stopped
    worker.stop()
    produce_events(bootstrap, topics, live_events(LIVE_EVENTS // 2, "live", now), batch_size=500)
    worker.restart()
    measure_rate(worker, 0, LIVE_EVENTS, "campaigns of 1,000, 500 events per record", size)
    time.sleep(5)
    messages = size + LIVE_EVENTS // 2
    disk = worker.disk_bytes()
    print(
        f"[{size:,}] resident memory after {LIVE_EVENTS:,} events: {worker.rss():,.0f} MiB; "
        f"on disk {disk / 2**20:,.0f} MiB, {disk / messages:,.0f} bytes per message "
        f"({messages:,} messages, two table keys each) ({load()})",
        flush=True,
    )
    worker.stop()
    small = LIVE_EVENTS_SMALL_RECORDS // 2
    produce_events(bootstrap, topics, live_events(small, "few", now), batch_size=8)
    worker.restart()
    measure_rate(
        worker,
        0,
        LIVE_EVENTS_SMALL_RECORDS,
        "campaigns of 1,000, 8 events per record (single webhooks)",
        size,
    )

    # restarts: from the new process until a new ack of every partition shows in a snapshot
    until_current(bootstrap, topics, probes, time.monotonic())  # everything before is done
    for sig in (signal.SIGTERM, signal.SIGKILL):
        stopping = worker.stop(sig)
        worker.restart()
        took = until_current(bootstrap, topics, probes, worker.started)
        print(
            f"[{size:,}] restart to current after {signal.Signals(sig).name}: {took:.1f} s "
            f"(stopping took {stopping:.1f} s) ({load()})",
            flush=True,
        )

    # the memory STATE_MEMORY_MB gives: reads of stored messages fill the cache
    for budget in memory_curve:
        worker.stop()
        worker.restart(budget)
        worker.wait_log(re.compile("Worker ready"), timeout=600)
        rng = random.Random(budget)
        half = size // PER_CAMPAIGN // 2  # the probes take their campaigns from the other half
        ids = [
            message_id(STATE_TAG, rng.randrange(half), rng.randrange(PER_CAMPAIGN))
            for _ in range(CACHE_PROBE_EVENTS)
        ]
        produce_events(bootstrap, topics, read_acks(ids, now), batch_size=500)
        worker.wait_events(CACHE_PROBE_EVENTS, timeout=1200)
        time.sleep(3)
        print(
            f"[{size:,}] STATE_MEMORY_MB={budget}: resident memory {worker.rss():,.0f} MiB after "
            f"reading {CACHE_PROBE_EVENTS:,} stored messages ({load()})",
            flush=True,
        )
    worker.stop()
    worker.restart(memory_mb)
    worker.wait_log(re.compile("Worker ready"), timeout=600)  # holds its slot

    # standby takeover: a second worker joins (its own slot), follows the first's partitions
    second = WorkerProcess(bootstrap, topics, workdir, workdir / f"state-{size}", memory_mb)
    running.callback(second.stop)
    second.wait_standby_current(timeout=3600)
    joined = second.this_run()
    for what, pattern in (
        ("its active partitions", RESTORED),
        ("its standby copies of the others", STANDBY_RESTORED),
    ):
        read, seconds = max((int(n), float(t)) for n, t in pattern.findall(joined))
        print(
            f"[{size:,}] cold restore of a joining worker, {what}: {read:,} changelog records in "
            f"{seconds:.1f} s ({read / max(seconds, 1e-9):,.0f} records/s; the first worker "
            f"running) ({load()})",
            flush=True,
        )
    killed = time.monotonic()
    worker.stop(signal.SIGKILL)
    took = until_current(bootstrap, topics, probes, killed)
    print(
        f"[{size:,}] standby takeover: {took:.1f} s from the SIGKILL until every partition's new "
        f"ack showed (session timeout 10 s) ({load()})",
        flush=True,
    )
    second.stop()


def snapshot_lag(bootstrap: str, workdir: Path, seconds: float) -> list[float]:
    """Live traffic at a steady rate; lag = append time of a snapshot minus its window's end."""
    topics = Topics(prefix=f"lag{uuid.uuid4().hex[:6]}-", partitions=PARTITIONS)
    create_topics(bootstrap, topics.all())
    worker = WorkerProcess(bootstrap, topics, workdir, workdir / "state-lag")
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": topics.prefix})
    consumer.assign([TopicPartition(topics.campaign_stats, p, 0) for p in range(PARTITIONS)])
    lags: list[float] = []
    try:
        worker.wait_log(re.compile("Worker ready"), timeout=120)
        end = time.monotonic() + seconds
        second = 0
        while time.monotonic() < end:
            at = datetime.now(UTC)
            produce_events(bootstrap, topics, live_events(2_000, f"s{second}", at, 100))
            second += 1
            for msg in consumer.consume(500, 0.5):
                if msg.error():
                    continue
                snap = decode_snapshot(msg.value() or b"")
                lags.append(msg.timestamp()[1] / 1000 - snap.window.end.timestamp())
    finally:
        consumer.close()
        worker.stop()
    return lags


def sizes(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part]


def state_sizes(text: str) -> list[int]:
    """Sizes of at least 100,000 messages: the probes and cache reads need 100 campaigns."""
    found = sizes(text)
    if min(found, default=0) < 100_000:
        raise argparse.ArgumentTypeError("sizes start at 100,000 messages")
    return found


def main() -> int:
    stop_cleanly_on_sigterm()
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=state_sizes, default=[1_000_000], help="messages")
    parser.add_argument("--memory-curve", type=sizes, default=[16, 64, 256], help="MB budgets")
    parser.add_argument("--state-memory-mb", type=int, default=64)
    parser.add_argument("--lag-seconds", type=float, default=30.0, help="0: no lag run")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="tickstream-bench-"))
    print(f"work directory {workdir}; {os.cpu_count()} cores, {load()}", flush=True)
    servers = contextlib.ExitStack()
    bootstrap = servers.enter_context(kafka_server(workdir / "kafka")).address
    try:
        for size in args.sizes:
            bench_size(bootstrap, workdir, size, args.memory_curve, args.state_memory_mb)
        if args.lag_seconds > 0:
            lags = snapshot_lag(bootstrap, workdir, args.lag_seconds)
            p50, p95 = percentiles(lags, 0.5, 0.95)
            print(
                f"snapshot lag after window end: p50 {p50 * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms "
                f"({len(lags)} snapshots, target p95 ≤ 500 ms) ({load()})"
            )
    finally:
        servers.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Worker benchmark: sustained events/s of one worker process, snapshot lag, memory and recovery
time with 1,000,000 tracked messages, and per-event cost for small versus huge campaigns.

``python -m tickstream.bench.worker [--messages 1000000]`` — starts its own broker (or uses
``KAFKA_BOOTSTRAP``), sends traffic to 127.0.0.1 only, prints figures, stops what it started.
"""

from __future__ import annotations

import argparse
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
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import NamedTuple

from confluent_kafka import Consumer, TopicPartition

from contract.admin import create_topics
from contract.events import AckEvent, Dispatch, MessageEvent, decode_snapshot
from contract.topics import Topics
from tickstream.bench import stop_cleanly_on_sigterm
from tickstream.infra import KafkaBroker, free_port
from tickstream.workload import produce_events

EVENTS_METRIC = re.compile(rb"^tickstream_worker_events_total (\S+)$", re.M)


def uniform_events(campaigns: int, per_campaign: int, tag: str) -> list[MessageEvent]:
    """A dispatch and a delivered ack per message: the same event mix whatever the sizes."""
    at = datetime(2026, 11, 1, tzinfo=UTC)
    events: list[MessageEvent] = []
    for c in range(campaigns):
        for m in range(per_campaign):
            message_id = f"{tag}-{c}-{m}"
            events.append(
                Dispatch(
                    message_id=message_id,
                    campaign_id=f"{tag}-{c}",
                    workspace_id="w1",
                    recipient=str(m),
                    received_at=at,
                )
            )
            events.append(
                AckEvent(
                    message_id=message_id,
                    status="delivered",
                    received_at=at + timedelta(seconds=2),
                )
            )
    return events


class WorkerProcess:
    def __init__(self, bootstrap: str, topics: Topics, workdir: Path, window: float) -> None:
        self.port = free_port()
        self.log = workdir / f"worker-{self.port}.log"
        env = dict(os.environ)
        env.update(
            KAFKA_BOOTSTRAP=bootstrap,
            TOPIC_PREFIX=topics.prefix,
            TOPIC_PARTITIONS=str(topics.partitions),
            WORKER_PORT=str(self.port),
            WINDOW_SECONDS=str(window),
            LOG_LEVEL="INFO",
        )
        self.started = time.monotonic()
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "streams"],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def events(self) -> float:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=2) as r:
                found = EVENTS_METRIC.search(r.read())
        except OSError:
            return 0.0
        return float(found.group(1)) if found else 0.0

    def rss_mib(self) -> float:
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        kib = int(re.search(r"VmRSS:\s+(\d+)", status).group(1))  # type: ignore[union-attr]
        return kib / 1024

    def cpu_seconds(self) -> float:
        """CPU time of the worker process (all its threads): its cost whatever else runs."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def wait_events(self, total: int, timeout: float) -> list[Sample]:
        """Samples of (seconds, events processed, CPU seconds) until ``total`` are processed."""
        samples: list[Sample] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            count = self.events()
            samples.append(Sample(time.monotonic(), count, self.cpu_seconds()))
            if count >= total:
                break
            time.sleep(0.5)
        return samples

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(60)


class Sample(NamedTuple):
    seconds: float
    events: float
    cpu: float


@dataclass(frozen=True)
class Run:
    """Between 10 % and 90 % of a run: start-up and the tail left out."""

    events_per_second: float
    cpu_us_per_event: float


def steady_part(samples: list[Sample], total: int) -> Run:
    low = next(s for s in samples if s.events >= total * 0.1)
    high = next((s for s in samples if s.events >= total * 0.9), samples[-1])
    events = max(high.events - low.events, 1.0)
    return Run(
        events_per_second=events / max(high.seconds - low.seconds, 1e-9),
        cpu_us_per_event=(high.cpu - low.cpu) / events * 1e6,
    )


def measure_rate(
    bootstrap: str,
    workdir: Path,
    events: list[MessageEvent],
    label: str,
    window: float,
    per_record: int = 500,
) -> tuple[Run, WorkerProcess, Topics]:
    topics = Topics(prefix=f"bench{uuid.uuid4().hex[:6]}-", partitions=8)
    create_topics(bootstrap, topics.all())
    produce_events(bootstrap, topics, events, batch_size=per_record)
    worker = WorkerProcess(bootstrap, topics, workdir, window)
    samples = worker.wait_events(len(events), timeout=1800)
    run = steady_part(samples, len(events))
    print(
        f"{label}: {len(events):,} events, sustained {run.events_per_second:,.0f} events/s, "
        f"{run.cpu_us_per_event:.1f} µs of worker CPU per event",
        flush=True,
    )
    return run, worker, topics


def snapshot_lag(bootstrap: str, workdir: Path, window: float, seconds: float) -> list[float]:
    """Live traffic at a steady rate; lag = append time of a snapshot minus its window's end."""
    topics = Topics(prefix=f"lag{uuid.uuid4().hex[:6]}-", partitions=8)
    create_topics(bootstrap, topics.all())
    worker = WorkerProcess(bootstrap, topics, workdir, window)
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": topics.prefix})
    consumer.assign([TopicPartition(topics.campaign_stats, p, 0) for p in range(8)])
    lags: list[float] = []
    try:
        time.sleep(10)  # joined and assigned
        end = time.monotonic() + seconds
        second = 0
        while time.monotonic() < end:
            produce_events(bootstrap, topics, uniform_events(20, 100, f"s{second}"))
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


def recovery_seconds(worker: WorkerProcess, bootstrap: str, topics: Topics, workdir: Path) -> float:
    worker.stop()
    restarted = WorkerProcess(bootstrap, topics, workdir, 1.0)
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline:
        if "stage 1 rebuilt" in restarted.log.read_text(errors="replace"):
            break
        time.sleep(0.2)
    took = time.monotonic() - restarted.started
    restarted.stop()
    return took


def main() -> int:
    stop_cleanly_on_sigterm()
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=1_000_000, help="messages of the big run")
    parser.add_argument("--lag-seconds", type=float, default=30.0)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="tickstream-bench-"))
    broker = None
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP", "")
    if not bootstrap:
        broker = KafkaBroker(workdir / "kafka")
        broker.start()
        bootstrap = broker.bootstrap
    try:
        # the same number of messages in campaigns of 1,000 and in one campaign, sent campaign
        # after campaign as a sender does: only the campaign size differs between the two runs
        small, worker, _ = measure_rate(
            bootstrap,
            workdir,
            uniform_events(args.messages // 1000, 1000, "small"),
            "campaigns of 1,000 recipients",
            1.0,
        )
        worker.stop()
        _, worker, _ = measure_rate(
            bootstrap,
            workdir,
            uniform_events(args.messages // 5000, 1000, "few"),
            "campaigns of 1,000 recipients, 8 events per record (single webhooks)",
            1.0,
            per_record=8,
        )
        worker.stop()
        big, worker, topics = measure_rate(
            bootstrap,
            workdir,
            uniform_events(1, args.messages, "big"),
            f"one campaign of {args.messages:,} recipients",
            1.0,
        )
        print(
            f"resident memory with {args.messages:,} tracked messages: {worker.rss_mib():,.0f} MiB"
        )
        print(
            f"recovery from the changelog with {args.messages:,} messages: "
            f"{recovery_seconds(worker, bootstrap, topics, workdir):.1f} s (start to state rebuilt)"
        )
        change = (big.cpu_us_per_event - small.cpu_us_per_event) / small.cpu_us_per_event * 100
        print(
            f"per-event cost (worker CPU), one campaign of {args.messages:,} vs campaigns of "
            f"1,000: {change:+.1f} % (target within 20 %)"
        )
        lags = sorted(snapshot_lag(bootstrap, workdir, 1.0, args.lag_seconds))
        if lags:
            p50 = statistics.median(lags)
            p95 = lags[int(len(lags) * 0.95) - 1] if len(lags) > 1 else lags[0]
            print(
                f"snapshot lag after window end: p50 {p50 * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms "
                f"({len(lags)} snapshots, target p95 ≤ 500 ms)"
            )
    finally:
        if broker is not None:
            broker.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

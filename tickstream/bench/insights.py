"""Insights benchmark: one campaign of ``--recipients`` messages — A/B variants, templates, tags,
failures with the providers' codes, acks from seconds to a day after their dispatch, duplicates
and out-of-order acks (``tickstream.simulator.workload.campaign_events``) — produced to fresh
topics and counted by ONE real worker process; its last snapshot on ``campaign-stats`` is then
compared with the oracle, counters AND insights (docs/insights.md): "exact", or every difference.
Also prints the worker's events/s on that backlog.

``python -m tickstream.bench.insights [--recipients 1000000]`` — starts its own broker (or uses
``KAFKA_BOOTSTRAP``), stops what it started.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
from confluent_kafka import Consumer, TopicPartition

from contract.admin import create_topics
from contract.events import Snapshot, decode_snapshot
from contract.partitioning import partition_for
from contract.topics import Topics
from tickstream.bench import stop_cleanly_on_sigterm
from tickstream.bench.worker import WorkerProcess, load, steady_part
from tickstream.infra.testbed import kafka_server
from tickstream.simulator.checking import counts_of, differences_table
from tickstream.simulator.comparison import (
    Difference,
    ExpectedInsights,
    counter_differences,
    insight_differences,
)
from tickstream.simulator.oracle import Expected, insights_oracle, oracle
from tickstream.simulator.workload import (
    campaign_events,
    produce_events,
    produce_registrations,
    registrations,
)

PARTITIONS = 8
WORKSPACE = "w0"  # campaign_events' workspace of its first campaign


def differences(
    expected: Expected, insights: ExpectedInsights, snapshot: Snapshot
) -> list[Difference]:
    """What the snapshot shows otherwise than the oracle: counters, then insights."""
    shown = counts_of(msgspec.to_builtins(snapshot.statistics))
    return counter_differences(expected, shown) + insight_differences(insights, snapshot.insights)


def last_snapshot(
    bootstrap: str, topics: Topics, campaign: str, expected: Expected, timeout: float
) -> Snapshot:
    """The campaign's snapshot of the highest ``seq`` once its counters are the oracle's and no
    newer one came for a few windows (or whatever is latest at the timeout)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"bench-{uuid.uuid4().hex}"})
    partition = partition_for(campaign, topics.partitions)
    consumer.assign([TopicPartition(topics.campaign_stats, partition, 0)])
    latest: Snapshot | None = None
    quiet_since = time.monotonic()
    deadline = quiet_since + timeout
    try:
        while time.monotonic() < deadline:
            for message in consumer.consume(500, 0.5):
                if message.error():
                    continue
                snapshot = decode_snapshot(message.value())
                if snapshot.campaign_id == campaign and (
                    latest is None or snapshot.seq > latest.seq
                ):
                    latest, quiet_since = snapshot, time.monotonic()
            done = latest is not None and not counter_differences(
                expected, counts_of(msgspec.to_builtins(latest.statistics))
            )
            if done and time.monotonic() - quiet_since > 5.0:
                break
    finally:
        consumer.close()
    if latest is None:
        raise TimeoutError(f"no snapshot of {campaign} within {timeout:.0f} s")
    return latest


def run(
    running: contextlib.ExitStack, bootstrap: str, workdir: Path, recipients: int, seed: int
) -> int:
    topics = Topics(prefix=f"ins{uuid.uuid4().hex[:6]}-", partitions=PARTITIONS)
    create_topics(bootstrap, topics.all())
    campaign = f"{topics.prefix}c0"
    began = time.monotonic()
    # dispatched two days ago, so that reads a day later are in the past too
    start = datetime.now(UTC) - timedelta(days=2)
    events = campaign_events(
        1, recipients, seed=seed, prefix=topics.prefix, start=start, skip_share=0.03, late_acks=True
    )
    print(
        f"{len(events):,} events of {recipients:,} recipients drawn in "
        f"{time.monotonic() - began:.0f} s",
        flush=True,
    )
    began = time.monotonic()
    expected = oracle(events)[campaign]
    insights = ExpectedInsights.exact(insights_oracle(events)[campaign])
    print(
        f"the oracle counted them in {time.monotonic() - began:.0f} s: {expected}; "
        f"{len(insights.soonest.failures)} failure reasons, {len(insights.soonest.groups)} groups",
        flush=True,
    )
    began = time.monotonic()
    produce_registrations(
        bootstrap, topics, registrations([campaign], {campaign: WORKSPACE}, recipients)
    )
    records = produce_events(bootstrap, topics, events, batch_size=500)
    print(
        f"produced {records:,} records to ack-events in {time.monotonic() - began:.0f} s",
        flush=True,
    )

    worker = WorkerProcess(bootstrap, topics, workdir, workdir / "state")
    running.callback(worker.stop)
    samples = worker.wait_events(len(events), timeout=3600)
    if samples[-1].events < len(events):
        raise TimeoutError(
            f"the worker took only {samples[-1].events:,.0f} events; see {worker.log}"
        )
    steady = steady_part(samples, 0, len(events))
    print(
        f"ONE worker: {len(events):,} events in {samples[-1].seconds - worker.started:.0f} s from "
        f"its start; sustained {steady.events_per_second:,.0f} events/s, "
        f"{steady.cpu_us_per_event:.1f} µs of worker CPU per event ({load()})",
        flush=True,
    )
    snapshot = last_snapshot(bootstrap, topics, campaign, expected, timeout=600)
    found = differences(expected, insights, snapshot)
    if not found:
        print(f"exact: the counters and insights of snapshot {snapshot.seq} are the oracle's")
        return 0
    print(f"{len(found)} differences in snapshot {snapshot.seq}:")
    print(differences_table({campaign: found}))
    return 1


def main() -> int:
    stop_cleanly_on_sigterm()
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--recipients", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="tickstream-bench-"))
    print(f"work directory {workdir}; {os.cpu_count()} cores, {load()}", flush=True)
    with contextlib.ExitStack() as running:
        bootstrap = running.enter_context(kafka_server(workdir / "kafka")).address
        return run(running, bootstrap, workdir, args.recipients, args.seed)


if __name__ == "__main__":
    raise SystemExit(main())

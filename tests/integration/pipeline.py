"""Helpers of the pipeline tests: service processes started like users start them, and readers of
what the worker wrote."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from confluent_kafka import Consumer, TopicPartition

from contract.events import Snapshot, decode_snapshot
from contract.topics import Topics
from sink.migrate import upgrade
from tickstream.infra.ports import free_port
from tickstream.simulator.oracle import Expected


def service_env(kafka_bootstrap: str, topics: Topics, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        KAFKA_BOOTSTRAP=kafka_bootstrap,
        TOPIC_PREFIX=topics.prefix,
        TOPIC_PARTITIONS=str(topics.partitions),
        WORKER_PORT=str(free_port()),
        LOG_LEVEL="INFO",
    )
    env.update(extra)
    return env


def start_service(package: str, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """``python -m <package>`` with its output in ``log``."""
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", package],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def stop(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout: float = 30) -> None:
    if process.poll() is None:
        os.killpg(process.pid, sig)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout)


class SnapshotReader:
    """Reads ``campaign-stats`` from the start and keeps every campaign's newest snapshot."""

    def __init__(self, bootstrap: str, topics: Topics, group: str) -> None:
        self.consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": group,
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
            }
        )
        self.consumer.assign(
            [TopicPartition(topics.campaign_stats, p, 0) for p in range(topics.partitions)]
        )
        self.latest: dict[str, Snapshot] = {}
        self.all: list[Snapshot] = []

    def poll(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            for msg in self.consumer.consume(1000, 0.2):
                if msg.error():
                    continue
                snap = decode_snapshot(msg.value() or b"")
                self.all.append(snap)
                known = self.latest.get(snap.campaign_id)
                if known is None or snap.seq >= known.seq:
                    self.latest[snap.campaign_id] = snap

    def counts(self) -> dict[str, Expected]:
        return {
            campaign: Expected(
                dispatched=snap.statistics.dispatched_count,
                sent=snap.statistics.total_sent_count,
                delivered=snap.statistics.total_delivered_count,
                read=snap.statistics.total_read_count,
                played=snap.statistics.total_played_count,
                failed=snap.statistics.total_failed_count,
                skipped=snap.statistics.skipped_count,
            )
            for campaign, snap in self.latest.items()
        }

    def wait_for(self, expected: dict[str, Expected], timeout: float) -> dict[str, Expected]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.poll(1.0)
            if self.counts() == expected:
                break
        return self.counts()

    def close(self) -> None:
        self.consumer.close()


@dataclass
class Pipeline:
    """ingest, worker, sink and gateway as processes; the gateway can be stopped and restarted."""

    env: dict[str, str]
    logs: Path
    ingest_url: str
    gateway_url: str
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start(self, package: str) -> None:
        self.processes[package] = start_service(package, self.env, self.logs / f"{package}.log")

    def stop(self, package: str) -> None:
        stop(self.processes.pop(package))

    def stop_all(self) -> None:
        for package in list(self.processes):
            self.stop(package)


async def wait_http(session: aiohttp.ClientSession, url: str, within: float = 60.0) -> None:
    deadline = time.monotonic() + within
    while True:
        try:
            async with session.get(url) as response:
                if response.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"{url} did not answer 200 within {within} s")
        await asyncio.sleep(0.2)


async def until(check: Callable[[], Awaitable[Any]], what: str, within: float) -> Any:
    """Poll ``check`` until it returns something truthy (a database read, not a timing claim)."""
    deadline = time.monotonic() + within
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.3)


@asynccontextmanager
async def running_pipeline(
    kafka_bootstrap: str,
    database_url: str,
    topics: Topics,
    logs: Path,
    packages: tuple[str, ...] = ("streams", "sink", "ingest", "gateway"),
    **extra: str,
) -> AsyncIterator[Pipeline]:
    """The services as processes on a migrated database, each on a free port, until the end of
    the ``async with``; ingest and the gateway answer ``/healthz`` when it begins."""
    upgrade(database_url)
    ingest_port, gateway_port = free_port(), free_port()
    env = service_env(
        kafka_bootstrap,
        topics,
        DATABASE_URL=database_url,
        INGEST_PORT=str(ingest_port),
        GATEWAY_PORT=str(gateway_port),
        SINK_PORT=str(free_port()),
        WEBHOOKS_PORT=str(free_port()),
        WORKER_DATA_DIR=str(logs / "worker"),
        **extra,
    )
    running = Pipeline(
        env, logs, f"http://127.0.0.1:{ingest_port}", f"http://127.0.0.1:{gateway_port}"
    )
    try:
        for package in packages:
            running.start(package)
        async with aiohttp.ClientSession() as session:
            await wait_http(session, f"{running.ingest_url}/healthz")
            await wait_http(session, f"{running.gateway_url}/healthz")
        yield running
    finally:
        running.stop_all()

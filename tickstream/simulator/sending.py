"""Sending a plan to a running ingest: each request at its time, signed the way its sender signs,
retried as a provider retries, with a progress bar."""

from __future__ import annotations

import asyncio
import io
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TextIO
from urllib.parse import parse_qsl

import aiohttp

from ingest.openapi import WEBJS_PATHS
from tickstream.deployment import Deployment
from tickstream.simulator import signing
from tickstream.simulator.plan import Plan, Post


def request_for(post: Post, settings: Deployment, now: float) -> tuple[str, dict[str, str]]:
    """Path and headers of a post, signed the way its sender signs."""
    ingest = settings.ingest
    if post.kind in ("campaigns", "dispatches", "skips"):
        return f"/v1/{post.kind}", {
            "Authorization": f"Bearer {ingest.ingest_api_token}",
            "Content-Type": "application/json",
        }
    path = f"/webhooks/{post.kind}"
    if post.kind == "webjs":
        path = WEBJS_PATHS[-1]  # the path the Node service itself posts to
        signature = signing.webjs_headers(ingest.webjs_hmac_secret, post.body, now)
    elif post.kind == "waha":
        signature = signing.waha_headers(ingest.waha_hmac_key, post.body)
    elif post.kind == "evolution":
        signature = signing.evolution_headers(ingest.evolution_token)
    elif post.kind == "meta":
        signature = signing.meta_headers(ingest.meta_app_secret, post.body)
    else:
        url = ingest.public_base_url.rstrip("/") + path
        form = parse_qsl(post.body.decode(), keep_blank_values=True)
        return path, {
            "Content-Type": "application/x-www-form-urlencoded",
            **signing.twilio_headers(ingest.twilio_auth_token, url, form),
        }
    return path, {"Content-Type": "application/json", **signature}


@dataclass(slots=True)
class Report:
    sent_posts: int = 0
    sent_acks: int = 0
    retries: int = 0
    refused: list[str] = field(default_factory=list)
    # each accepted request by its index in the plan: when its last attempt was sent and when it
    # was answered (ingest stamped its arrival in between)
    arrivals: dict[int, tuple[datetime, datetime]] = field(default_factory=dict)


class Progress:
    """A progress bar on stderr (a line every few seconds when stderr is not a terminal)."""

    def __init__(self, total: int, out: TextIO, enabled: bool = True) -> None:
        self.total, self.out, self.enabled = total, out, enabled
        self.started = time.monotonic()
        self.last = 0.0
        self.tty = out.isatty()

    def update(self, report: Report, force: bool = False) -> None:
        now = time.monotonic()
        if not self.enabled or (not force and now - self.last < (0.2 if self.tty else 5.0)):
            return
        self.last = now
        done = report.sent_acks
        share = done / self.total if self.total else 1.0
        bar = "#" * int(share * 30)
        rate = done / max(1e-9, now - self.started)
        line = (
            f"[{bar:<30}] {done}/{self.total} acks  {rate:,.0f} acks/s  "
            f"retries {report.retries}  refused {len(report.refused)}"
        )
        self.out.write(("\r" + line) if self.tty else line + "\n")
        if force and self.tty:
            self.out.write("\n")
        self.out.flush()


class RateLimit:
    """At most ``rate`` acks per second on average (0 = no cap)."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.next_at = time.monotonic()

    async def take(self, acks: int) -> None:
        if self.rate <= 0 or acks == 0:
            return
        now = time.monotonic()
        self.next_at = max(self.next_at, now) + acks / self.rate
        wait = self.next_at - acks / self.rate - now
        if wait > 0:
            await asyncio.sleep(wait)


async def send_plan(
    plan: Plan,
    settings: Deployment,
    *,
    rate: float = 0.0,
    concurrency: int = 32,
    progress: Progress | None = None,
) -> Report:
    """Post every request of the plan at its time (later when the rate cap says so); a 503 or a
    connection error is retried as a provider would, a refusal is recorded."""
    base = f"http://127.0.0.1:{settings.ingest.ingest_port}"
    report = Report()
    limit = RateLimit(rate)
    gate = asyncio.Semaphore(concurrency)
    started = time.monotonic()
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(base, connector=connector) as session:

        async def deliver(index: int, post: Post) -> None:
            try:
                for attempt in range(30):
                    path, headers = request_for(post, settings, time.time())
                    # a file-like body: aiohttp sends one from bytes over 1 MB (a large plan's
                    # batches) in a single write that would hold up the event loop
                    body = io.BytesIO(post.body)
                    begun = datetime.now(UTC)
                    try:
                        async with session.post(path, data=body, headers=headers) as resp:
                            text = await resp.text()
                            if resp.status < 300:
                                report.arrivals[index] = (begun, datetime.now(UTC))
                                report.sent_posts += 1
                                report.sent_acks += post.acks
                                return
                            if resp.status != 503:
                                report.refused.append(f"{post.kind} {resp.status}: {text[:200]}")
                                return
                    except aiohttp.ClientError:
                        pass
                    report.retries += 1
                    await asyncio.sleep(min(5.0, 0.2 * (attempt + 1)))
                report.refused.append(f"{post.kind}: gave up after 30 attempts")
            finally:
                gate.release()
                if progress is not None:
                    progress.update(report)

        tasks = []
        for index, post in enumerate(plan.posts):
            delay = started + post.at - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            await limit.take(post.acks)
            await gate.acquire()
            tasks.append(asyncio.create_task(deliver(index, post)))
        await asyncio.gather(*tasks)
    if progress is not None:
        progress.update(report, force=True)
    return report

"""Outbound webhooks against the real broker, PostgreSQL and HTTP receivers on 127.0.0.1:
snapshots produced to ``campaign-stats`` reach the subscribed receivers signed as docs/webhooks.md
says, with their ids, in order, and never another workspace's; subscriptions are made, listed and
removed with the ``tickstream webhook`` command.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import os
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from aiohttp import ClientSession, web
from alembic import command
from confluent_kafka import Producer
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from contract.events import Snapshot, Statistics, WindowCounts, encode
from contract.settings import DatabaseSettings
from contract.topics import Topics
from sink.migrate import alembic_config, upgrade
from tickstream.cli import main
from tickstream.infra.ports import free_port
from tickstream.state_dir import PROJECT_ROOT
from webhooks.app import create_app
from webhooks.settings import WebhookSettings

pytestmark = pytest.mark.integration

# --------------------------------------------------------------------------- a receiver


@dataclass(slots=True)
class Request:
    path: str
    headers: dict[str, str]
    body: bytes
    received_at: float
    status: int | None = None  # what it was answered, once it was

    @property
    def event(self) -> dict[str, Any]:
        return dict(json.loads(self.body))


@dataclass(slots=True)
class Receiver:
    """An HTTP server on 127.0.0.1 that answers ``status`` (per path, else ``default``; per
    event id if ``refusing`` names it) and keeps every request; it can be stopped and started
    again on the same port (a receiver that is down: connection refused). A path in ``holding``
    waits for its event before answering."""

    port: int = field(default_factory=free_port)
    default: int = 200
    delay: float = 0.0  # seconds each answer takes
    status: dict[str, int] = field(default_factory=dict)
    holding: dict[str, asyncio.Event] = field(default_factory=dict)
    refusing: dict[str, int] = field(default_factory=dict)  # event id -> the status it gets
    requests: list[Request] = field(default_factory=list)
    runner: web.AppRunner | None = None

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def handle(self, request: web.Request) -> web.Response:
        seen = Request(request.path, dict(request.headers), await request.read(), time.time())
        self.requests.append(seen)
        hold = self.holding.get(request.path)
        if hold is not None:
            await hold.wait()
        await asyncio.sleep(self.delay)
        seen.status = self.refusing.get(
            seen.event["id"], self.status.get(request.path, self.default)
        )
        return web.Response(status=seen.status, text="noted")

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/{path:.*}", self.handle)
        self.runner = web.AppRunner(app, handle_signals=False)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None

    def delivered(self, path: str) -> list[str]:
        """The ids of the requests to ``path`` that were answered 2xx, in order."""
        return [
            r.event["id"]
            for r in self.requests
            if r.path == path and r.status is not None and 200 <= r.status < 300
        ]

    def ids(self, path: str) -> list[str]:
        return [r.event["id"] for r in self.requests if r.path == path]


@asynccontextmanager
async def receiver(**options: Any) -> AsyncIterator[Receiver]:
    server = Receiver(**options)
    await server.start()
    try:
        yield server
    finally:
        for hold in server.holding.values():
            hold.set()
        await server.stop()


def verify(request: Request, secret: str) -> None:
    """The documented check (docs/webhooks.md, "Verifying"): hex HMAC-SHA256(secret,
    X-Timestamp + raw body), the timestamp near our clock, the headers naming the event."""
    stamp = request.headers["X-Timestamp"]
    expected = hmac.new(secret.encode(), stamp.encode() + request.body, "sha256").hexdigest()
    assert hmac.compare_digest(expected, request.headers["X-HMAC-Signature"])
    assert abs(int(stamp) - request.received_at) <= 300
    event = request.event
    assert request.headers["X-Tickstream-Event"] == event["type"]
    assert request.headers["X-Tickstream-Event-Id"] == event["id"]
    assert request.headers["Content-Type"] == "application/json"


# --------------------------------------------------------------------------- snapshots


def snapshot(
    campaign: str, workspace: str, seq: int, completed_at: datetime | None = None, name: str = ""
) -> Snapshot:
    """A campaign's ``seq``-th snapshot, taken now (after the subscriptions were created)."""
    now = datetime.now(UTC)
    return Snapshot(
        campaign_id=campaign,
        campaign_uuid=f"uuid-{campaign}",
        workspace_id=workspace,
        seq=seq,
        window=WindowCounts(start=now - timedelta(seconds=1), end=now, sent=1),
        statistics=Statistics(
            total_message_count=100,
            total_sent_count=seq,
            total_delivered_count=seq,
            total_read_count=0,
            total_played_count=0,
            total_failed_count=0,
            pending_count=100 - seq,
            delivery_rate=100.0,
            read_rate=0.0,
            success_rate=float(seq),
            updated_at=now,
            completed_at=completed_at,
        ),
        timestamp=now,
        campaign_name=name,
    )


def produce(bootstrap: str, topics: Topics, records: Iterable[Snapshot | bytes]) -> None:
    """Onto ``campaign-stats``, keyed by campaign as the worker keys them (``bytes``: a record
    that is no snapshot, keyed ``junk``)."""
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    for item in records:
        if isinstance(item, Snapshot):
            producer.produce(topics.campaign_stats, key=item.campaign_id, value=encode(item))
        else:
            producer.produce(topics.campaign_stats, key=b"junk", value=item)
    assert producer.flush(30) == 0


def statistics_ids(campaign: str, seqs: Iterable[int]) -> list[str]:
    return [f"{campaign}:statistics:{seq}" for seq in seqs]


def completed_id(campaign: str, at: datetime) -> str:
    return f"{campaign}:completed:{at.astimezone(UTC).isoformat().replace('+00:00', 'Z')}"


def first_seen(ids: list[str]) -> list[str]:
    """Each id once, where it first arrived (a delivery may be repeated: at least once)."""
    return list(dict.fromkeys(ids))


# --------------------------------------------------------------------------- the deliverer


def webhook_settings(settings: DatabaseSettings, **changes: Any) -> WebhookSettings:
    """Small waits, so that retries happen within a test."""
    quick = {
        "webhooks_port": free_port(),
        "webhooks_backoff_first_seconds": 0.05,
        "webhooks_backoff_max_seconds": 0.5,
        "webhooks_poll_seconds": 0.1,
        "webhooks_timeout_seconds": 5.0,
    }
    return WebhookSettings.carrying(settings, **{**quick, **changes})


@asynccontextmanager
async def running(settings: WebhookSettings) -> AsyncIterator[str]:
    """The deliverer's app in this event loop, served on its port; its base URL."""
    runner = web.AppRunner(create_app(settings), handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", settings.webhooks_port).start()
    try:
        yield f"http://127.0.0.1:{settings.webhooks_port}"
    finally:
        await runner.cleanup()


@asynccontextmanager
async def database(url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(url)
    try:
        yield engine
    finally:
        await engine.dispose()


async def rows(engine: AsyncEngine, query: str, **params: Any) -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        result = await conn.execute(sa.text(query), params)
        return [dict(row) for row in result.mappings()]


async def until(
    condition: Callable[[], bool | Awaitable[bool]], what: str, within: float = 120.0
) -> None:
    """Poll ``condition`` until it holds; fail naming ``what`` after ``within`` seconds."""
    deadline = time.monotonic() + within
    while True:
        held = condition()
        if not isinstance(held, bool):
            held = await held
        if held:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {within:.0f} s")
        await asyncio.sleep(0.1)


def subscribe(
    capsys: pytest.CaptureFixture[str],
    workspace: str,
    url: str,
    events: str,
    secret: str | None = None,
) -> tuple[int, str]:
    """``tickstream webhook add``; the id and the secret it printed."""
    argv = ["webhook", "add", "--workspace", workspace, "--url", url, "--events", events]
    assert main([*argv, *(["--secret", secret] if secret else [])]) == 0
    printed = dict(line.split(" ", 1) for line in capsys.readouterr().out.splitlines())
    return int(printed["id"]), printed["secret"]


@pytest.fixture
def cli_database(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterable[str]:
    """The migrated test database, named by DATABASE_URL for the ``tickstream`` command (and a
    state directory of the test's own, so that no local infrastructure is read)."""
    upgrade(database_url)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("TICKSTREAM_HOME", str(tmp_path))
    return database_url


# --------------------------------------------------------------------------- tests


async def test_snapshots_reach_the_subscribed_receivers_signed_in_order_and_no_one_else(
    settings: DatabaseSettings,
    topics: Topics,
    cli_database: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    async with receiver() as server:
        both, both_secret = subscribe(
            capsys, "w1", server.url("/both"), "campaign.statistics,campaign.completed"
        )
        done, done_secret = subscribe(capsys, "w1", server.url("/done"), "campaign.completed")
        other, other_secret = subscribe(
            capsys, "w2", server.url("/other"), "campaign.statistics", secret="w2-secret"
        )
        assert other_secret == "w2-secret" and len(both_secret) == len(done_secret) == 64
        # w1: c1 completes at seq 4 and is still complete at 5 (one completion), c2 never does;
        # w2: c3 completes; a record that is no snapshot, and a snapshot PostgreSQL cannot hold
        finished, finished_w2 = datetime.now(UTC), datetime.now(UTC) + timedelta(seconds=1)
        produce(
            settings.kafka_bootstrap,
            topics,
            [
                *(snapshot("c1", "w1", seq) for seq in (1, 2, 3)),
                b"not a snapshot",
                *(snapshot("c2", "w1", seq) for seq in (1, 2, 3)),
                *(snapshot("c1", "w1", seq, finished) for seq in (4, 5)),
                *(snapshot("c3", "w2", seq) for seq in (1, 2)),
                *(snapshot("c3", "w2", seq, finished_w2) for seq in (3, 4)),
                snapshot("c9", "w1", 1, name="nul \x00 in a name"),
            ],
        )
        expected = {
            "/both": {
                *statistics_ids("c1", range(1, 6)),
                *statistics_ids("c2", range(1, 4)),
                completed_id("c1", finished),
            },
            "/done": {completed_id("c1", finished)},
            "/other": set(statistics_ids("c3", range(1, 5))),
        }
        webhooks = webhook_settings(settings)
        async with running(webhooks) as base, database(cli_database) as engine:
            await until(
                lambda: all(set(server.ids(path)) >= ids for path, ids in expected.items()),
                "every event at its receiver",
            )
            outbox = await rows(
                engine,
                "SELECT subscription_id, event_id, delivered_at, attempts "
                "FROM webhook_deliveries ORDER BY id",
            )
            async with ClientSession() as http:
                async with http.get(f"{base}/healthz") as health:
                    assert health.status == 200 and (await health.json())["status"] == "ok"
                async with http.get(f"{base}/metrics") as scraped:
                    metrics = await scraped.text()

            # exactly the expected deliveries, each made once, and nothing for anyone else
            paths = {both: "/both", done: "/done", other: "/other"}
            assert {
                path: {row["event_id"] for row in outbox if paths[row["subscription_id"]] == path}
                for path in expected
            } == expected
            assert all(row["delivered_at"] is not None and row["attempts"] == 1 for row in outbox)
            for path, ids in expected.items():
                assert sorted(server.ids(path)) == sorted(ids), path  # none twice, none foreign
            assert 'webhooks_attempts_total{outcome="delivered"} 14.0' in metrics

            # signed, named in the headers, the snapshot whole as data
            secrets = {"/both": both_secret, "/done": done_secret, "/other": other_secret}
            for request in server.requests:
                verify(request, secrets[request.path])
                event = request.event
                assert event["workspace_id"] == {"/other": "w2"}.get(request.path, "w1")
                assert event["data"]["campaign_id"] == event["campaign_id"]
                assert event["campaign_uuid"] == f"uuid-{event['campaign_id']}"
                if event["type"] == "campaign.statistics":
                    assert event["id"].endswith(f":{event['data']['seq']}")
            # one subscription's events in the order they were produced (no failure meanwhile)
            for campaign, path in (("c1", "/both"), ("c2", "/both"), ("c3", "/other")):
                seqs = [
                    r.event["data"]["seq"]
                    for r in server.requests
                    if r.path == path and r.event["id"].startswith(f"{campaign}:statistics:")
                ]
                assert seqs == sorted(seqs) and seqs, (campaign, seqs)

            # listed, then removed: a later completion of c2 reaches /both but not /done
            assert main(["webhook", "list", "--workspace", "w1"]) == 0
            listed = capsys.readouterr().out
            assert [line.split()[0] for line in listed.splitlines()[1:]] == [str(both), str(done)]
            assert "secret" not in listed and both_secret not in listed
            assert main(["webhook", "remove", "--id", str(done)]) == 0
            assert main(["webhook", "remove", "--id", str(done)]) == 1  # already removed
            capsys.readouterr()
            later = datetime.now(UTC)
            produce(settings.kafka_bootstrap, topics, [snapshot("c2", "w1", 4, later)])
            await until(lambda: completed_id("c2", later) in server.ids("/both"), "c2's completion")
            assert completed_id("c2", later) not in server.ids("/done")
            made = await rows(
                engine,
                "SELECT count(*) AS n FROM webhook_deliveries WHERE subscription_id = :s",
                s=done,
            )
            assert made == [{"n": 1}]


async def test_a_receiver_that_is_down_then_back_gets_every_event_in_order_at_once(
    settings: DatabaseSettings,
    topics: Topics,
    cli_database: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Connection refused, then 503, then 200: every event arrives, what was created during the
    outage too, in seq order after the one try that found the receiver back."""
    server = Receiver(status={"/hook": 503})
    subscription, secret = subscribe(
        capsys, "w1", server.url("/hook"), "campaign.statistics,campaign.completed"
    )
    finished = datetime.now(UTC)
    before = [snapshot(f"c{n}", "w1", seq) for seq in range(1, 11) for n in (1, 2)]
    during = [snapshot(f"c{n}", "w1", seq, finished) for seq in range(11, 16) for n in (1, 2)]
    expected = {
        *statistics_ids("c1", range(1, 16)),
        *statistics_ids("c2", range(1, 16)),
        completed_id("c1", finished),
        completed_id("c2", finished),
    }
    async with database(cli_database) as engine, running(webhook_settings(settings)):

        async def failures() -> int:
            found = await rows(
                engine, "SELECT failures FROM webhook_subscriptions WHERE id = :s", s=subscription
            )
            return int(found[0]["failures"])

        produce(settings.kafka_bootstrap, topics, before)
        await until(lambda: _at_least(failures(), 3), "three refused connections")
        produce(settings.kafka_bootstrap, topics, during)
        await server.start()  # up, but failing
        try:
            await until(lambda: len(server.requests) >= 3, "three tries answered 503")
            refused = await rows(
                engine,
                "SELECT max(attempts) AS most, bool_or(last_error LIKE 'HTTP 503%') AS answered, "
                "count(delivered_at) AS delivered FROM webhook_deliveries",
            )
            assert refused == [{"most": refused[0]["most"], "answered": True, "delivered": 0}]
            assert refused[0]["most"] >= 3
            server.status.clear()  # back
            await until(lambda: set(server.ids("/hook")) >= expected, "every event after")
        finally:
            await server.stop()
        delivered = server.delivered("/hook")
        assert set(delivered) == expected
        # the try that found the receiver back may have been any of the oldest events; after it,
        # everything that waited went out in the order it was created
        probe, *rest = first_seen(delivered)
        for campaign in ("c1", "c2"):
            seqs = [
                int(event_id.rsplit(":", 1)[1])
                for event_id in rest
                if event_id.startswith(f"{campaign}:statistics:")
            ]
            assert seqs == sorted(seqs) and len(seqs) >= 14, (campaign, probe, seqs)
        for request in server.requests:
            verify(request, secret)
        assert await failures() == 0
        outbox = await rows(
            engine, "SELECT count(*) AS n FROM webhook_deliveries WHERE delivered_at IS NULL"
        )
        assert outbox == [{"n": 0}]


async def _at_least(value: Awaitable[int], least: int) -> bool:
    return await value >= least


async def test_a_hung_receiver_does_not_hold_back_another_nor_its_next_deliverer(
    settings: DatabaseSettings,
    topics: Topics,
    cli_database: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """One receiver never answers (the timeout is an hour) while another must get all its events
    meanwhile: had it waited for the hung request, it never could. The deliverer stopped with
    the request still open gives the subscription back, so the next one serves it at once
    (it would otherwise wait for the lease, an hour)."""
    async with receiver(holding={"/hung": asyncio.Event()}) as server:
        hung, _ = subscribe(capsys, "w1", server.url("/hung"), "campaign.statistics")
        subscribe(capsys, "w2", server.url("/fine"), "campaign.statistics")
        produce(
            settings.kafka_bootstrap,
            topics,
            [snapshot(f"c-{w}", w, seq) for seq in range(1, 21) for w in ("w1", "w2")],
        )
        webhooks = webhook_settings(settings, webhooks_timeout_seconds=3600.0)
        async with database(cli_database) as engine:
            async with running(webhooks):
                await until(lambda: len(server.requests) > 0, "a first request")
                await until(
                    lambda: server.delivered("/fine") == statistics_ids("c-w2", range(1, 21)),
                    "every event of the receiver that answers, in order",
                )
                assert server.ids("/hung") == ["c-w1:statistics:1"]  # still open
            leased = await rows(
                engine,
                "SELECT leased_until > now() AS held FROM webhook_subscriptions WHERE id = :s",
                s=hung,
            )
            assert leased == [{"held": False}]
        server.holding["/hung"].set()
        async with running(webhooks):
            await until(
                lambda: (
                    first_seen(server.delivered("/hung")) == statistics_ids("c-w1", range(1, 21))
                ),
                "the hung receiver's events from the next deliverer",
            )


async def test_deliveries_failing_for_the_max_age_are_given_up_and_the_next_goes_out(
    settings: DatabaseSettings,
    topics: Topics,
    cli_database: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A receiver that always answers 500: its deliveries are given up at
    WEBHOOKS_MAX_AGE_HOURS (here 3 s) with the last error kept, and once it answers again the
    next event reaches it."""
    async with receiver(status={"/broken": 500}) as server:
        broken, _ = subscribe(capsys, "w3", server.url("/broken"), "campaign.statistics")
        produce(settings.kafka_bootstrap, topics, [snapshot("c3", "w3", s) for s in range(1, 6)])
        webhooks = webhook_settings(settings, webhooks_max_age_hours=3 / 3600)
        async with running(webhooks) as base, database(cli_database) as engine:

            async def given_up() -> bool:
                found = await rows(
                    engine,
                    "SELECT count(*) AS n FROM webhook_deliveries "
                    "WHERE given_up_at IS NOT NULL AND delivered_at IS NULL",
                )
                return bool(found[0]["n"] == 5)

            await until(given_up, "the broken receiver's deliveries given up")
            # the ones tried keep why they failed (the others waited behind them)
            tried = await rows(
                engine, "SELECT last_error FROM webhook_deliveries WHERE attempts > 0"
            )
            assert tried and all(r["last_error"].startswith("HTTP 500 ") for r in tried)
            async with ClientSession() as http, http.get(f"{base}/metrics") as scraped:
                assert "webhooks_given_up_total 5.0" in await scraped.text()
            assert main(["webhook", "list", "--workspace", "w3"]) == 0
            assert "failing" in capsys.readouterr().out
            server.status.clear()
            produce(settings.kafka_bootstrap, topics, [snapshot("c3", "w3", 6)])
            await until(lambda: server.delivered("/broken") != [], "the next event")
            assert server.delivered("/broken") == ["c3:statistics:6"]
            state = await rows(
                engine, "SELECT failures FROM webhook_subscriptions WHERE id = :s", s=broken
            )
            assert state == [{"failures": 0}]


async def test_a_receiver_that_refuses_one_event_still_gets_the_others(
    settings: DatabaseSettings,
    topics: Topics,
    cli_database: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The receiver answers 404 to the oldest event only (say it does not know that campaign):
    the later ones are not held back behind it, and it is retried on its own schedule until the
    receiver takes it."""
    refused = "c1:statistics:1"
    async with receiver(refusing={refused: 404}) as server, database(cli_database) as engine:
        subscribe(capsys, "w1", server.url("/picky"), "campaign.statistics")
        produce(settings.kafka_bootstrap, topics, [snapshot("c1", "w1", s) for s in range(1, 31)])
        # its own schedule doubles from 0.05 s up to 30 s: a dozen tries take minutes
        async with running(webhook_settings(settings, webhooks_backoff_max_seconds=30.0)):
            await until(
                lambda: set(server.delivered("/picky")) == set(statistics_ids("c1", range(2, 31))),
                "every other event",
            )
            held = await rows(
                engine,
                "SELECT attempts, last_status FROM webhook_deliveries "
                "WHERE event_id = :e AND delivered_at IS NULL",
                e=refused,
            )
            assert len(held) == 1 and held[0]["last_status"] == 404
            # tried on its own schedule, not again after each event that went through (29)
            assert 1 <= held[0]["attempts"] < 15, held
            server.refusing.clear()  # it takes that one too now
            await until(lambda: refused in server.delivered("/picky"), "the refused event")


# --------------------------------------------------------------------------- the documented shell


def documented_shell(first_line: str) -> str:
    """The ``sh`` block of docs/webhooks.md that starts with ``first_line``."""
    text = (PROJECT_ROOT / "docs" / "webhooks.md").read_text("utf-8")
    (block,) = [b for b in re.findall(r"```sh\n(.*?)```", text, re.S) if b.startswith(first_line)]
    return block


async def shell(script: str, env: dict[str, str], stdin: bytes = b"") -> str:
    process = await asyncio.create_subprocess_exec(
        "sh",
        "-c",
        script,
        env={"PATH": os.environ["PATH"], **env},
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await process.communicate(stdin)
    assert process.returncode == 0, out
    return out.decode()


async def test_the_documented_shell_receiver_and_curl_sign_as_the_deliverer(
    settings: DatabaseSettings,
    topics: Topics,
    cli_database: str,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    """The CGI script of docs/webhooks.md accepts a request the deliverer made and refuses it
    changed; the curl example's request passes this file's check and the script's."""
    receiver_script = documented_shell("#!/bin/sh\n# tickstream-webhook.cgi")
    curl_example = documented_shell("# a signed test request")
    kept = tmp_path / "events.jsonl"
    async with receiver() as server:
        _, secret = subscribe(capsys, "w1", server.url("/hook"), "campaign.statistics")
        produce(settings.kafka_bootstrap, topics, [snapshot("c1", "w1", 1)])
        async with running(webhook_settings(settings)):
            await until(lambda: server.delivered("/hook") != [], "a delivery")
        await shell(curl_example, {"SECRET": secret, "URL": server.url("/tried")})
    made, tried = server.requests[0], server.requests[-1]
    assert tried.path == "/tried"
    verify(tried, secret)

    async def cgi(request: Request, body: bytes, key: str, stamp_shift: int = 0) -> str:
        env = {
            "TICKSTREAM_WEBHOOK_SECRET": key,
            "TICKSTREAM_EVENTS": str(kept),
            "CONTENT_LENGTH": str(len(body)),
            "HTTP_X_TIMESTAMP": str(int(request.headers["X-Timestamp"]) + stamp_shift),
            "HTTP_X_HMAC_SIGNATURE": request.headers["X-HMAC-Signature"],
        }
        return await shell(receiver_script, env, body)

    assert (await cgi(made, made.body, secret)).startswith("Status: 204")
    assert (await cgi(tried, tried.body, secret)).startswith("Status: 204")
    assert kept.read_bytes() == made.body + b"\n" + tried.body + b"\n"
    for answer in (
        await cgi(made, made.body + b" ", secret),
        await cgi(made, made.body, secret + "x"),
        await cgi(made, made.body, secret, stamp_shift=1),
    ):
        assert answer.startswith("Status: 401") and "bad signature" in answer
    assert "stale" in await cgi(made, made.body, secret, stamp_shift=-1000)
    assert kept.read_bytes().count(b"\n") == 2  # nothing refused was kept


def test_the_webhook_migration_goes_down_and_up_again(database_url: str) -> None:
    """0005 adds the two tables only; below it they are gone, above it they are back."""
    engine = sa.create_engine(database_url)
    ours = {"webhook_subscriptions", "webhook_deliveries"}
    try:
        upgrade(database_url, "0005")
        with_them = set(sa.inspect(engine).get_table_names())
        command.downgrade(alembic_config(database_url), "0004")
        assert with_them - set(sa.inspect(engine).get_table_names()) == ours
        upgrade(database_url, "0005")
        assert set(sa.inspect(engine).get_table_names()) == with_them
    finally:
        engine.dispose()

"""``tickstream simulate``: realistic campaigns sent through the real webhooks of a running ingest.

A plan is drawn first (pure, seeded): for each message a provider, a fate (pending, sent only,
delivered with read receipts off, read, played voice note, failed with a real provider error,
failed on one device and delivered on another) and a timeline with delivery delays, duplicates
(provider retries), out-of-order arrivals and acks that reach ingest before the sender recorded
the dispatch. Each webhook body is built in that provider's own format and signed as the provider
signs it, and the canonical event it stands for goes to :func:`tickstream.workload.oracle`, so
the counts the simulator expects come from the same plain reading of spec §2 as every other
test, not from the pipeline's code.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hmac
import json
import random
import secrets
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO
from urllib.parse import urlencode

import aiohttp

from contract.events import AckEvent, Dispatch, MessageEvent, Skip, skip_message_id
from contract.settings import Settings
from ingest.auth import twilio_signature
from tickstream.devenv import load_dev_env
from tickstream.infra import default_state_dir
from tickstream.workload import Expected, oracle

PROVIDERS = ("webjs", "waha", "evolution", "meta", "twilio")
WEBJS_ACK = {"failed": -1, "pending": 0, "sent": 1, "delivered": 2, "read": 3, "played": 4}
# the original Node service's `status` string is shifted by one against its ack_level
WEBJS_SHIFTED = {1: "pending", 2: "sent", 3: "delivered", 4: "read", -1: "error", 0: "pending"}
WAHA_ACK_NAME = {-1: "ERROR", 0: "PENDING", 1: "SERVER", 2: "DEVICE", 3: "READ", 4: "PLAYED"}
EVOLUTION_STATUS = {
    "pending": "PENDING",
    "sent": "SERVER_ACK",
    "delivered": "DELIVERY_ACK",
    "read": "READ",
    "played": "PLAYED",
    "failed": "ERROR",
}
# real Cloud API error codes of failed statuses
META_ERRORS = (
    (131026, "Message undeliverable"),
    (131049, "This message was not delivered to maintain healthy ecosystem engagement."),
    (131047, "Re-engagement message"),
)
TWILIO_ERRORS = (("63016", "undelivered"), ("63003", "failed"), ("63024", "failed"))
# why a sender leaves an audience member out (reason_code, reason)
SKIP_REASONS = (
    ("not_on_whatsapp", "The number has no WhatsApp account"),
    ("opted_out", "The recipient opted out of marketing messages"),
    ("invalid_number", "The phone number is not valid"),
)


@dataclass(frozen=True, slots=True)
class Post:
    """One HTTP request of the plan; webhook bodies are final, signatures are made at send time
    (the Node service's signature covers the current time)."""

    at: float
    kind: str  # "campaigns", "dispatches", "skips" or a provider name
    body: bytes
    acks: int = 0
    message_id: str = ""


@dataclass(slots=True)
class Plan:
    campaigns: dict[str, int]  # campaign id -> registered recipients
    workspace: str
    posts: list[Post] = field(default_factory=list)
    events: list[MessageEvent] = field(default_factory=list)

    @property
    def acks(self) -> int:
        return sum(post.acks for post in self.posts)

    def expected(self) -> dict[str, Expected]:
        return oracle(self.events)


@dataclass(frozen=True, slots=True)
class Shape:
    """Knobs of the plan: how many, over how long, how often each awkward case happens."""

    campaigns: int = 3
    recipients: int = 500
    duration: float = 20.0  # dispatches are spread over this many seconds
    delay_scale: float = 1.0  # multiplies every ack delay (0.1 = ten times faster)
    read_probability: float = 0.6
    receipts_off_share: float = 0.2
    duplicate_share: float = 0.1
    early_ack_share: float = 0.05
    skip_share: float = 0.04  # audience members the sender leaves out (a quarter sent after all)
    seed: int = 1


# --------------------------------------------------------------------------- the plan


def make_plan(shape: Shape, workspace: str, run_id: str, start: datetime) -> Plan:
    rng = random.Random(shape.seed)
    plan = Plan(
        {f"sim-{run_id}-{c + 1}": shape.recipients for c in range(shape.campaigns)}, workspace
    )
    for c, campaign_id in enumerate(plan.campaigns):
        plan.posts.append(Post(0.0, "campaigns", _json(_registration(campaign_id, plan, c))))
        for m in range(shape.recipients):
            skipped = rng.random() < shape.skip_share
            if skipped:
                _skip(plan, rng, shape, campaign_id, c, m, start)
            if not skipped or rng.random() < 0.25:  # the sender may still send after a skip
                _message(plan, rng, shape, campaign_id, c, m, start)
    plan.posts.sort(key=lambda post: post.at)
    return plan


def _registration(campaign_id: str, plan: Plan, c: int) -> dict[str, Any]:
    return {
        "campaign_id": campaign_id,
        "workspace_id": plan.workspace,
        "name": f"Simulated campaign {c + 1}",
        "total_recipients": plan.campaigns[campaign_id],
        "uuid": f"{campaign_id}-uuid",
    }


def _fate(rng: random.Random, shape: Shape, provider: str) -> list[str]:
    """The statuses a message goes through, in the order they happen."""
    roll = rng.random()
    if roll < 0.04:
        return []  # never acknowledged
    if roll < 0.12:
        return ["sent", "failed"] if rng.random() < 0.5 else ["failed"]
    if roll < 0.15:
        return ["sent", "failed", "delivered"]  # failed on one device, delivered on another
    if roll < 0.23:
        return ["sent"]  # the phone is offline
    if rng.random() < shape.receipts_off_share or rng.random() >= shape.read_probability:
        return ["sent", "delivered"]  # read receipts off, or simply not read yet
    if provider != "twilio" and rng.random() < 0.08:
        return ["sent", "delivered", "read", "played"]  # a voice note
    return ["sent", "delivered", "read"]


def _phone(c: int, m: int) -> str:
    return f"5511{9 - c % 10}{m:08d}"


def _turn(shape: Shape, m: int) -> float:
    """When the sender gets to recipient ``m``: recipients are spread over the duration."""
    return m / max(1, shape.recipients) * shape.duration


def _skip(
    plan: Plan,
    rng: random.Random,
    shape: Shape,
    campaign_id: str,
    c: int,
    m: int,
    start: datetime,
) -> None:
    reason_code, reason = SKIP_REASONS[rng.randrange(len(SKIP_REASONS))]
    at = max(0.0, _turn(shape, m) - rng.uniform(0, 0.5))
    skip = {
        "campaign_id": campaign_id,
        "workspace_id": plan.workspace,
        "recipient": f"+{_phone(c, m)}",
        "reason_code": reason_code,
        "reason": reason,
        "occurred_at": (start + timedelta(seconds=at)).isoformat(),
    }
    plan.posts.append(Post(at, "skips", _json(skip)))
    plan.events.append(
        Skip(
            message_id=skip_message_id(campaign_id, skip["recipient"]),
            campaign_id=campaign_id,
            workspace_id=plan.workspace,
            recipient=skip["recipient"],
            received_at=start,
            reason_code=reason_code,
            reason=reason,
        )
    )


def _message(
    plan: Plan,
    rng: random.Random,
    shape: Shape,
    campaign_id: str,
    c: int,
    m: int,
    start: datetime,
) -> None:
    provider = PROVIDERS[rng.randrange(len(PROVIDERS))]
    phone = _phone(c, m)
    message_id = _message_id(rng, provider, phone)
    dispatched = _turn(shape, m) + rng.uniform(0, 0.05)
    statuses = _fate(rng, shape, provider)
    if provider == "twilio" and statuses:
        statuses = ["pending", *statuses]  # Twilio reports "queued" first
    times: list[float] = []
    at = dispatched + rng.uniform(0.05, 0.4) * shape.delay_scale
    for status in statuses:
        step = {"delivered": 1.5, "read": 8.0, "played": 5.0, "failed": 1.0}.get(status, 0.2)
        at += rng.expovariate(1 / step) * shape.delay_scale
        times.append(at)
    if len(times) >= 3 and rng.random() < 0.1:
        times[-1], times[-2] = times[-2], times[-1]  # the later status arrives first
    if provider == "meta" and statuses[-2:] == ["delivered", "read"] and rng.random() < 0.1:
        statuses, times = [*statuses[:-2], "read"], [*times[:-2], times[-1]]  # read at once
    record_at = dispatched
    if times and rng.random() < shape.early_ack_share:
        record_at = times[0] + rng.uniform(0.5, 2.0) * shape.delay_scale  # dispatch recorded late
    dispatch = {
        "message_id": message_id,
        "campaign_id": campaign_id,
        "workspace_id": plan.workspace,
        "recipient": f"+{phone}",
        "dispatched_at": (start + timedelta(seconds=dispatched)).isoformat(),
    }
    plan.posts.append(Post(record_at, "dispatches", _json(dispatch), 0, message_id))
    plan.events.append(
        Dispatch(
            message_id=message_id,
            campaign_id=campaign_id,
            workspace_id=plan.workspace,
            recipient=f"+{phone}",
            received_at=start,
        )
    )
    for status, at in zip(statuses, times, strict=True):
        occurred = start + timedelta(seconds=at)
        body = BUILDERS[provider](rng, message_id, phone, status, occurred)
        plan.posts.append(Post(at, provider, body, 1, message_id))
        if rng.random() < shape.duplicate_share:  # the provider retries a delivery
            plan.posts.append(Post(at + rng.uniform(0.1, 3.0), provider, body, 1, message_id))
        plan.events.append(
            AckEvent(message_id=message_id, status=status, received_at=occurred, provider=provider)  # type: ignore[arg-type]
        )


def _message_id(rng: random.Random, provider: str, phone: str) -> str:
    hex_id = f"{rng.getrandbits(80):020X}"
    if provider in ("webjs", "waha"):
        return f"true_{phone}@c.us_3EB0{hex_id}"
    if provider == "evolution":
        return f"3EB0{hex_id}"
    if provider == "meta":
        raw = f"{phone}:{hex_id}".encode()
        return "wamid." + base64.b64encode(raw).decode()
    return f"SM{rng.getrandbits(128):032x}"


def _json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def _webjs(rng: random.Random, message_id: str, phone: str, status: str, at: datetime) -> bytes:
    level = WEBJS_ACK[status]
    if rng.random() < 0.3:  # whatsapp-web.js's raw message_ack arguments
        return _json(
            {"message": {"id": {"_serialized": message_id}, "to": f"{phone}@c.us"}, "ack": level}
        )
    event = {2: "message_delivered", 3: "message_read"}.get(level, "message_status_updated")
    data = {
        "message_id": message_id,
        "status": WEBJS_SHIFTED[level],
        "ack_level": level,
        "to": f"{phone}@c.us",
        "timestamp": int(at.timestamp()),
    }
    return _json({"event": event, "data": data})


def _waha(rng: random.Random, message_id: str, phone: str, status: str, at: datetime) -> bytes:
    level = WEBJS_ACK[status]
    payload = {
        "id": message_id,
        "from": "5511900000000@c.us",
        "to": f"{phone}@c.us",
        "fromMe": True,
        "ack": level,
        "ackName": WAHA_ACK_NAME[level],
    }
    body = {
        "id": f"evt_{rng.getrandbits(64):016x}",
        "event": "message.ack",
        "session": "default",
        "timestamp": int(at.timestamp() * 1000),
        "payload": payload,
    }
    return _json(body)


def _evolution(rng: random.Random, message_id: str, phone: str, status: str, at: datetime) -> bytes:
    data = {
        "messageId": f"cm{rng.getrandbits(64):016x}",
        "keyId": message_id,
        "remoteJid": f"{phone}@s.whatsapp.net",
        "fromMe": True,
        "participant": None,
        "status": EVOLUTION_STATUS[status],
        "instanceId": "sim-instance",
    }
    body = {
        "event": "messages.update",
        "instance": "sim",
        "data": data,
        "date_time": at.isoformat(),
        "sender": "5511900000000@s.whatsapp.net",
        "server_url": "http://127.0.0.1",
    }
    return _json(body)


def _meta(rng: random.Random, message_id: str, phone: str, status: str, at: datetime) -> bytes:
    item: dict[str, Any] = {
        "id": message_id,
        "status": status,
        "timestamp": str(int(at.timestamp())),
        "recipient_id": phone,
    }
    if status == "failed":
        code, title = META_ERRORS[rng.randrange(len(META_ERRORS))]
        item["errors"] = [{"code": code, "title": title, "message": title}]
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550001111", "phone_number_id": "106540352242922"},
        "statuses": [item],
    }
    return _json(
        {
            "object": "whatsapp_business_account",
            "entry": [
                {"id": "102290129340398", "changes": [{"value": value, "field": "messages"}]}
            ],
        }
    )


def _twilio(rng: random.Random, message_id: str, phone: str, status: str, at: datetime) -> bytes:
    form = {
        "MessageSid": message_id,
        "SmsSid": message_id,
        "AccountSid": "AC" + "0" * 32,
        "From": "whatsapp:+15550001111",
        "To": f"whatsapp:+{phone}",
        "ApiVersion": "2010-04-01",
    }
    if status == "failed":
        code, name = TWILIO_ERRORS[rng.randrange(len(TWILIO_ERRORS))]
        form.update(MessageStatus=name, ErrorCode=code)
    else:
        form["MessageStatus"] = {"pending": "queued"}.get(status, status)
    return urlencode(form).encode()


BUILDERS: dict[str, Callable[[random.Random, str, str, str, datetime], bytes]] = {
    "webjs": _webjs,
    "waha": _waha,
    "evolution": _evolution,
    "meta": _meta,
    "twilio": _twilio,
}


# --------------------------------------------------------------------------- signing


def _hex(secret: str, digest: str, message: bytes) -> str:
    return hmac.new(secret.encode(), message, digest).hexdigest()


def request_for(post: Post, settings: Settings, now: float) -> tuple[str, dict[str, str]]:
    """Path and headers of a post, signed the way its sender signs."""
    if post.kind in ("campaigns", "dispatches", "skips"):
        return f"/v1/{post.kind}", {
            "Authorization": f"Bearer {settings.ingest_api_token}",
            "Content-Type": "application/json",
        }
    path = f"/webhooks/{post.kind}"
    headers = {"Content-Type": "application/json"}
    if post.kind == "webjs":
        stamp = str(int(now))
        headers["X-Timestamp"] = stamp
        headers["X-HMAC-Signature"] = _hex(
            settings.webjs_hmac_secret, "sha256", stamp.encode() + post.body
        )
    elif post.kind == "waha":
        headers["X-Webhook-Hmac"] = _hex(settings.waha_hmac_key, "sha512", post.body)
        headers["X-Webhook-Hmac-Algorithm"] = "sha512"
    elif post.kind == "evolution":
        headers["Authorization"] = f"Bearer {settings.evolution_token}"
    elif post.kind == "meta":
        headers["X-Hub-Signature-256"] = "sha256=" + _hex(
            settings.meta_app_secret, "sha256", post.body
        )
    else:
        from urllib.parse import parse_qsl

        url = settings.public_base_url.rstrip("/") + path
        params = parse_qsl(post.body.decode(), keep_blank_values=True)
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        headers["X-Twilio-Signature"] = twilio_signature(settings.twilio_auth_token, url, params)
    return path, headers


# --------------------------------------------------------------------------- sending


@dataclass(slots=True)
class Report:
    sent_posts: int = 0
    sent_acks: int = 0
    retries: int = 0
    refused: list[str] = field(default_factory=list)


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
    settings: Settings,
    *,
    rate: float = 0.0,
    concurrency: int = 32,
    progress: Progress | None = None,
) -> Report:
    """Post every request of the plan at its time (later when the rate cap says so); a 503 or a
    connection error is retried as a provider would, a refusal is recorded."""
    base = f"http://127.0.0.1:{settings.ingest_port}"
    report = Report()
    limit = RateLimit(rate)
    gate = asyncio.Semaphore(concurrency)
    started = time.monotonic()
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(base, connector=connector) as session:

        async def deliver(post: Post) -> None:
            try:
                for attempt in range(30):
                    path, headers = request_for(post, settings, time.time())
                    try:
                        async with session.post(path, data=post.body, headers=headers) as resp:
                            text = await resp.text()
                            if resp.status < 300:
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
        for post in plan.posts:
            delay = started + post.at - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            await limit.take(post.acks)
            await gate.acquire()
            tasks.append(asyncio.create_task(deliver(post)))
        await asyncio.gather(*tasks)
    if progress is not None:
        progress.update(report, force=True)
    return report


# --------------------------------------------------------------------------- checking


def counts_of(statistics: dict[str, Any]) -> Expected:
    """The gateway's ``statistics`` object in the oracle's terms."""
    return Expected(
        dispatched=int(statistics.get("dispatched_count", 0)),
        sent=int(statistics["total_sent_count"]),
        delivered=int(statistics["total_delivered_count"]),
        read=int(statistics["total_read_count"]),
        played=int(statistics["total_played_count"]),
        failed=int(statistics["total_failed_count"]),
        skipped=int(statistics.get("skipped_count", 0)),
    )


async def verify(
    settings: Settings,
    token: str,
    expected: dict[str, Expected],
    within: float,
) -> dict[str, Expected | None]:
    """Poll ``GET /api/campaigns/{id}`` until every campaign matches; the mismatches left."""
    base = f"http://127.0.0.1:{settings.gateway_port}"
    headers = {"Authorization": f"Bearer {token}"}
    seen: dict[str, Expected | None] = dict.fromkeys(expected)
    deadline = time.monotonic() + within
    async with aiohttp.ClientSession(base, headers=headers) as session:
        while True:
            for campaign_id in expected:
                try:
                    async with session.get(f"/api/campaigns/{campaign_id}") as resp:
                        if resp.status == 200:
                            seen[campaign_id] = counts_of((await resp.json())["statistics"])
                except aiohttp.ClientError:
                    pass
            left = {c: seen[c] for c in expected if seen[c] != expected[c]}
            if not left or time.monotonic() > deadline:
                return left
            await asyncio.sleep(1.0)


def table(rows: Iterable[tuple[str, int, Expected | None]]) -> str:
    names = ("total", "sent", "deliv.", "read", "played", "failed", "skipped", "pending")
    lines = [f"{'campaign':28} " + " ".join(f"{name:>7}" for name in names)]
    for name, total, counts in rows:
        if counts is None:
            lines.append(f"{name:28} {'(no snapshot)':>15}")
            continue
        total = max(total, counts.dispatched + counts.skipped)
        pending = max(0, total - counts.sent - counts.failed - counts.skipped)
        lines.append(
            f"{name:28} {total:7} {counts.sent:7} {counts.delivered:7} {counts.read:7} "
            f"{counts.played:7} {counts.failed:7} {counts.skipped:7} {pending:7}"
        )
    return "\n".join(lines)


# --------------------------------------------------------------------------- command


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sim = sub.add_parser("simulate", help="drive realistic campaigns through the real webhooks")
    sim.add_argument("--campaigns", type=int, default=3)
    sim.add_argument("--recipients", type=int, default=500, help="per campaign")
    sim.add_argument("--duration", type=float, default=20.0, help="seconds the dispatches span")
    sim.add_argument("--delay-scale", type=float, default=1.0, help="multiplies ack delays")
    sim.add_argument("--rate", type=float, default=0.0, help="at most this many acks/s (0: no cap)")
    sim.add_argument(
        "--skip-share", type=float, default=0.04, help="share of recipients left out (0–1)"
    )
    sim.add_argument("--workspace", default="1")
    sim.add_argument("--seed", type=int, default=None, help="same seed, same campaigns")
    sim.add_argument("--verify", action="store_true", help="poll the gateway until totals match")
    sim.add_argument("--timeout", type=float, default=120.0, help="seconds --verify waits")
    sim.add_argument("--quiet", action="store_true", help="no progress bar")
    sim.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from gateway.auth import issue_token

    load_dev_env(default_state_dir())
    settings = Settings.from_env()
    missing = [
        name
        for name, value in (
            ("INGEST_API_TOKEN", settings.ingest_api_token),
            ("WEBJS_HMAC_SECRET", settings.webjs_hmac_secret),
            ("WAHA_HMAC_KEY", settings.waha_hmac_key),
            ("EVOLUTION_TOKEN", settings.evolution_token),
            ("META_APP_SECRET", settings.meta_app_secret),
            ("TWILIO_AUTH_TOKEN", settings.twilio_auth_token),
            ("PUBLIC_BASE_URL", settings.public_base_url),
        )
        if not value
    ]
    if missing:
        print(f"not set: {', '.join(missing)} (is `tickstream up` running?)", file=sys.stderr)
        return 2
    seed = args.seed if args.seed is not None else secrets.randbits(32)
    shape = Shape(
        campaigns=args.campaigns,
        recipients=args.recipients,
        duration=args.duration,
        delay_scale=args.delay_scale,
        skip_share=args.skip_share,
        seed=seed,
    )
    plan = make_plan(shape, args.workspace, secrets.token_hex(3), datetime.now(UTC))
    expected = plan.expected()
    print(
        f"simulating {args.campaigns} campaigns × {args.recipients} recipients "
        f"(seed {seed}): {len(plan.posts)} requests, {plan.acks} webhook acks "
        f"→ http://127.0.0.1:{settings.ingest_port}",
        flush=True,
    )
    progress = Progress(plan.acks, sys.stderr, enabled=not args.quiet)
    report = asyncio.run(send_plan(plan, settings, rate=args.rate, progress=progress))
    print(f"sent {report.sent_posts} requests ({report.retries} retries)")
    for refusal in report.refused[:10]:
        print(f"  refused: {refusal}", file=sys.stderr)
    print("expected final counts (the simulator's own oracle):")
    print(table((c, plan.campaigns[c], expected.get(c)) for c in plan.campaigns), flush=True)
    if report.refused:
        print(f"{len(report.refused)} requests were refused", file=sys.stderr)
        return 1
    if not args.verify:
        return 0
    if not settings.token_secret:
        print("TOKEN_SECRET is not set: cannot ask the gateway", file=sys.stderr)
        return 2
    token = issue_token(settings.token_secret, args.workspace, ttl_seconds=3600)
    print(f"waiting up to {args.timeout:.0f}s for the gateway to show these totals…", flush=True)
    left = asyncio.run(verify(settings, token, expected, args.timeout))
    if not left:
        print("verified: the gateway's totals match the oracle for every campaign")
        return 0
    print("MISMATCH after the timeout; the gateway shows:")
    print(table((c, plan.campaigns[c], left[c]) for c in left))
    return 1

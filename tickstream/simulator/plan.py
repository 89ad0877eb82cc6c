"""The simulator's plan: campaigns drawn up front (pure, seeded), each message with a provider, a
fate (pending, sent only, delivered with read receipts off, read, played voice note, failed with
a real provider error, failed on one device and delivered on another) and a timeline with delivery
delays, duplicates (provider retries), out-of-order arrivals and acks that reach ingest before the
sender recorded the dispatch. The whatsapp-web.js Node service also posts what it posts besides
acks (its session's events, ``message_sent``, answers with media of megabytes), which ingest must
answer 2xx and drop. The canonical event each request stands for goes to
:func:`tickstream.simulator.oracle.oracle`, so the counts the simulator expects come from the same
plain reading of the status rules (``contract/status.py``) as every other test, not from the
pipeline's code.
"""

from __future__ import annotations

import base64
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from contract.events import AckEvent, Dispatch, MessageEvent, Skip, skip_message_id
from tickstream.simulator.oracle import Expected, oracle
from tickstream.simulator.webhooks import (
    BUILDERS,
    PROVIDERS,
    StatusReport,
    compact_json,
    webjs_message_sent,
    webjs_reply,
    webjs_session_end,
    webjs_session_events,
)

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
    reply_share: float = 0.05  # recipients of the Node service who answer (not acks: ignored)
    media_bytes: int = 2_000_000  # base64 of the video every third answer inlines: > 1 MiB
    seed: int = 1


def make_plan(shape: Shape, workspace: str, run_id: str, start: datetime) -> Plan:
    rng = random.Random(shape.seed)
    plan = Plan(
        {f"sim-{run_id}-{c + 1}": shape.recipients for c in range(shape.campaigns)}, workspace
    )
    # the Node service's session comes up before the campaigns start
    plan.posts += [Post(0.0, "webjs", body) for body in webjs_session_events(rng)]
    for c, campaign_id in enumerate(plan.campaigns):
        plan.posts.append(Post(0.0, "campaigns", compact_json(_registration(campaign_id, plan, c))))
        for m in range(shape.recipients):
            skipped = rng.random() < shape.skip_share
            if skipped:
                _skip(plan, rng, shape, campaign_id, c, m, start)
            if not skipped or rng.random() < 0.25:  # the sender may still send after a skip
                _message(plan, rng, shape, campaign_id, c, m, start)
    plan.posts.sort(key=lambda post: post.at)
    plan.posts.append(Post(plan.posts[-1].at, "webjs", webjs_session_end()))
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
    plan.posts.append(Post(at, "skips", compact_json(skip)))
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
    plan.posts.append(Post(record_at, "dispatches", compact_json(dispatch), 0, message_id))
    plan.events.append(
        Dispatch(
            message_id=message_id,
            campaign_id=campaign_id,
            workspace_id=plan.workspace,
            recipient=f"+{phone}",
            received_at=start,
        )
    )
    created = start + timedelta(seconds=dispatched)
    for status, at in zip(statuses, times, strict=True):
        report = StatusReport(message_id, phone, status, start + timedelta(seconds=at), created)
        for meant, body in BUILDERS[provider](rng, report):
            plan.posts.append(Post(at, provider, body, 1, message_id))
            # a provider retries a delivery; the Node service never retries anything
            if provider != "webjs" and rng.random() < shape.duplicate_share:
                plan.posts.append(Post(at + rng.uniform(0.1, 3.0), provider, body, 1, message_id))
            plan.events.append(
                AckEvent(
                    message_id=message_id,
                    status=meant,  # type: ignore[arg-type]
                    received_at=report.at,
                    provider=provider,
                )
            )
    if provider == "webjs":
        _webjs_chatter(plan, rng, shape, message_id, phone, (dispatched, created), times)


def _webjs_chatter(
    plan: Plan,
    rng: random.Random,
    shape: Shape,
    message_id: str,
    phone: str,
    created: tuple[float, datetime],
    ack_times: list[float],
) -> None:
    """What else the Node service posts about a message: ``message_sent`` when it is created
    (``created``: in seconds of the plan, and as a time), and now and then the recipient's
    answer, every third one a video of ``media_bytes``."""
    dispatched, created_at = created
    sent = webjs_message_sent(message_id, phone, created_at)
    plan.posts.append(Post(dispatched, "webjs", sent, 0, message_id))
    if rng.random() >= shape.reply_share:
        return
    answered = max([dispatched, *ack_times]) + rng.uniform(1.0, 5.0) * shape.delay_scale
    media = shape.media_bytes if rng.random() < 1 / 3 else 0
    when = created_at + timedelta(seconds=answered - dispatched)
    for body in webjs_reply(rng, phone, when, media):
        plan.posts.append(Post(answered, "webjs", body, 0))


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

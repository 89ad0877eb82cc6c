"""The simulator's plan: campaigns drawn up front (pure, seeded), each message with a provider,
labels (a template per campaign, an A/B variant that changes how likely a read is, a few tags), a
fate (pending, sent only, delivered with read receipts off, read, played voice note, failed with
a real error of its provider, failed on one device and delivered on another) and a timeline of
realistic delays (``tickstream.simulator.delays``: seconds to hours, a day for some reads, cut
where the plan ends) with duplicates (provider retries), out-of-order arrivals and acks that reach
ingest before the sender recorded the dispatch. The whatsapp-web.js Node service also posts what
it posts besides acks (its session's events, ``message_sent``, answers with media of megabytes),
which ingest must answer 2xx and drop. Each request carries the canonical events it stands for;
they go to :mod:`tickstream.simulator.oracle`, so the counts and insights the simulator expects
come from the same plain reading of the rules (docs/contract.md, docs/insights.md) as every other
test, not from the pipeline's code.
"""

from __future__ import annotations

import base64
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import msgspec

from contract.events import AckEvent, Dispatch, MessageEvent, Skip, skip_message_id
from tickstream.simulator.comparison import ExpectedInsights
from tickstream.simulator.delays import delay
from tickstream.simulator.labels import TAGS, TEMPLATES, VARIANTS
from tickstream.simulator.oracle import Expected, insights_oracle, oracle
from tickstream.simulator.webhooks import (
    BUILDERS,
    FAILURES,
    PROVIDERS,
    STAMPED,
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
    # The canonical events the request stands for. An ack whose provider gives no event time is
    # planned as received at ``at``; ingest stamps it when the request really arrives.
    events: tuple[MessageEvent, ...] = ()


# When each request was sent and when it was answered, by its index in ``Plan.posts``: ingest
# received it in between.
Arrivals = Mapping[int, tuple[datetime, datetime]]


@dataclass(slots=True)
class Plan:
    campaigns: dict[str, int]  # campaign id -> registered recipients
    workspace: str
    start: datetime  # second 0 of the plan
    posts: list[Post] = field(default_factory=list)

    @property
    def acks(self) -> int:
        return sum(post.acks for post in self.posts)

    @property
    def events(self) -> list[MessageEvent]:
        """Every request's events, a retried request's again (the oracle counts them once)."""
        return [event for post in self.posts for event in post.events]

    def expected(self) -> dict[str, Expected]:
        return oracle(self.events)

    def received(self, arrivals: Arrivals, latest: bool) -> list[MessageEvent]:
        """The events as ingest stamped them: an ack with no event time at the soonest or the
        latest its request can have arrived (a request not in ``arrivals`` keeps its plan)."""
        events: list[MessageEvent] = []
        for index, post in enumerate(self.posts):
            arrival = arrivals.get(index)
            for event in post.events:
                if arrival and isinstance(event, AckEvent) and event.occurred_at is None:
                    event = msgspec.structs.replace(event, received_at=arrival[int(latest)])
                events.append(event)
        return events

    def expected_insights(self, arrivals: Arrivals) -> dict[str, ExpectedInsights]:
        """Per campaign, the insights between their soonest and latest reading
        (``tickstream.simulator.comparison``)."""
        soonest = insights_oracle(self.received(arrivals, latest=False))
        latest = insights_oracle(self.received(arrivals, latest=True))
        return {c: ExpectedInsights(soonest[c], latest[c]) for c in soonest}


@dataclass(frozen=True, slots=True)
class Shape:
    """Knobs of the plan: how many, over how long, how often each awkward case happens."""

    campaigns: int = 3
    recipients: int = 500
    duration: float = 20.0  # dispatches are spread over this many seconds
    delay_scale: float = 1.0  # multiplies every ack delay (0.1 = ten times faster)
    # how long after the last dispatch the campaign is followed, in seconds of the delays before
    # delay_scale (the run lasts horizon × delay_scale more): later acks never come
    horizon: float = 60.0
    read_probability: float = 0.6  # of a message sent without labels
    variants: tuple[tuple[str, float], ...] = VARIANTS  # A/B, and the read probability of each
    unlabelled_share: float = 0.05  # messages dispatched with no template, variant or tag
    receipts_off_share: float = 0.2
    duplicate_share: float = 0.1
    early_ack_share: float = 0.05
    skip_share: float = 0.04  # audience members the sender leaves out (a quarter sent after all)
    reply_share: float = 0.05  # recipients of the Node service who answer (not acks: ignored)
    media_bytes: int = 2_000_000  # base64 of the video every third answer inlines: > 1 MiB
    seed: int = 1


@dataclass(frozen=True, slots=True)
class Labels:
    """What a message's dispatch names it by, and how likely its recipient reads it."""

    read_probability: float
    template: str = ""
    variant: str = ""
    tags: tuple[str, ...] = ()


def make_plan(shape: Shape, workspace: str, run_id: str, start: datetime) -> Plan:
    rng = random.Random(shape.seed)
    plan = Plan(
        {f"sim-{run_id}-{c + 1}": shape.recipients for c in range(shape.campaigns)},
        workspace,
        start,
    )
    # the Node service's session comes up before the campaigns start
    plan.posts += [Post(0.0, "webjs", body) for body in webjs_session_events(rng)]
    for c, campaign_id in enumerate(plan.campaigns):
        plan.posts.append(Post(0.0, "campaigns", compact_json(_registration(campaign_id, plan, c))))
        template = TEMPLATES[c % len(TEMPLATES)]
        for m in range(shape.recipients):
            skipped = rng.random() < shape.skip_share
            if skipped:
                _skip(plan, rng, shape, campaign_id, c, m)
            if not skipped or rng.random() < 0.25:  # the sender may still send after a skip
                labels = _labels(rng, shape, template)
                _message(plan, rng, shape, (campaign_id, c, m), labels)
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


def _labels(rng: random.Random, shape: Shape, template: str) -> Labels:
    if rng.random() < shape.unlabelled_share:
        return Labels(shape.read_probability)
    variant, read_probability = shape.variants[rng.randrange(len(shape.variants))]
    tags = tuple(sorted(rng.sample(TAGS, rng.randint(0, 3))))
    return Labels(read_probability, template, variant, tags)


def _fate(rng: random.Random, shape: Shape, provider: str, read_probability: float) -> list[str]:
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
    if rng.random() < shape.receipts_off_share or rng.random() >= read_probability:
        return ["sent", "delivered"]  # read receipts off, or simply not read yet
    if provider != "twilio" and rng.random() < 0.08:
        return ["sent", "delivered", "read", "played"]  # a voice note
    return ["sent", "delivered", "read"]


def _timeline(
    rng: random.Random, shape: Shape, provider: str, statuses: list[str], dispatched: float
) -> list[tuple[str, float]]:
    """Each status with the second of the plan it happens at; those after the plan's end are
    left out (the message stays where it was when the run ended)."""
    times: list[float] = []
    at = dispatched
    for status in statuses:
        at += delay(rng, status) * shape.delay_scale
        times.append(at)
    if len(times) >= 3 and rng.random() < 0.1:
        times[-1], times[-2] = times[-2], times[-1]  # the later status arrives first
    if provider == "meta" and statuses[-2:] == ["delivered", "read"] and rng.random() < 0.1:
        statuses, times = [*statuses[:-2], "read"], [*times[:-2], times[-1]]  # read at once
    end = shape.duration + shape.horizon * shape.delay_scale
    return [(status, at) for status, at in zip(statuses, times, strict=True) if at <= end]


def _message(
    plan: Plan,
    rng: random.Random,
    shape: Shape,
    recipient: tuple[str, int, int],
    labels: Labels,
) -> None:
    """A message to recipient ``m`` of campaign number ``c``: its dispatch, its acks, and what
    else its provider posts."""
    campaign_id, c, m = recipient
    provider = PROVIDERS[rng.randrange(len(PROVIDERS))]
    phone = _phone(c, m)
    message_id = _message_id(rng, provider, phone)
    dispatched = _turn(shape, m) + rng.uniform(0, 0.05)
    statuses = _fate(rng, shape, provider, labels.read_probability)
    if provider == "twilio" and statuses:
        statuses = ["pending", *statuses]  # Twilio reports "queued" first
    timeline = _timeline(rng, shape, provider, statuses, dispatched)
    errors = FAILURES[provider]
    error = errors[rng.randrange(len(errors))]
    record_at = dispatched
    if timeline and rng.random() < shape.early_ack_share:
        record_at = timeline[0][1] + rng.uniform(0.5, 2.0)  # dispatch recorded late
    created = plan.start + timedelta(seconds=dispatched)
    dispatch = Dispatch(
        message_id=message_id,
        campaign_id=campaign_id,
        workspace_id=plan.workspace,
        recipient=f"+{phone}",
        dispatched_at=created,
        received_at=plan.start + timedelta(seconds=record_at),
        template=labels.template,
        variant=labels.variant,
        tags=list(labels.tags),
    )
    body: dict[str, Any] = {
        "message_id": message_id,
        "campaign_id": campaign_id,
        "workspace_id": plan.workspace,
        "recipient": dispatch.recipient,
        "dispatched_at": created.isoformat(),
    }
    if labels.variant:
        body.update(template=labels.template, variant=labels.variant, tags=list(labels.tags))
    plan.posts.append(Post(record_at, "dispatches", compact_json(body), 0, message_id, (dispatch,)))
    for status, at in timeline:
        when = plan.start + timedelta(seconds=at)
        report = StatusReport(
            message_id, phone, status, when, created, error if status == "failed" else ("", "")
        )
        for meant, body_bytes in BUILDERS[provider](rng, report):
            sent_at = [at]
            # a provider retries a delivery; the Node service never retries anything
            if provider != "webjs" and rng.random() < shape.duplicate_share:
                sent_at.append(at + rng.uniform(0.1, 3.0))
            for moment in sent_at:
                ack = AckEvent(
                    message_id=message_id,
                    status=meant,  # type: ignore[arg-type]
                    received_at=plan.start + timedelta(seconds=moment),
                    occurred_at=STAMPED[provider](when),
                    provider=provider,
                    error_code=report.error[0],
                    error_title=report.error[1],
                )
                plan.posts.append(Post(moment, provider, body_bytes, 1, message_id, (ack,)))
    if provider == "webjs":
        ack_times = [at for _, at in timeline]
        _webjs_chatter(plan, rng, shape, message_id, phone, (dispatched, created), ack_times)


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
) -> None:
    reason_code, reason = SKIP_REASONS[rng.randrange(len(SKIP_REASONS))]
    at = max(0.0, _turn(shape, m) - rng.uniform(0, 0.5))
    recipient = f"+{_phone(c, m)}"
    when = plan.start + timedelta(seconds=at)
    skip = {
        "campaign_id": campaign_id,
        "workspace_id": plan.workspace,
        "recipient": recipient,
        "reason_code": reason_code,
        "reason": reason,
        "occurred_at": when.isoformat(),
    }
    event = Skip(
        message_id=skip_message_id(campaign_id, recipient),
        campaign_id=campaign_id,
        workspace_id=plan.workspace,
        recipient=recipient,
        received_at=when,
        reason_code=reason_code,
        reason=reason,
        occurred_at=when,
    )
    plan.posts.append(Post(at, "skips", compact_json(skip), events=(event,)))


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

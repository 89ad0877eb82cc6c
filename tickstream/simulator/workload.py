"""Synthetic campaign traffic written straight to Kafka, as ingest writes it: for the worker's
tests and benchmark, which need more events, faster, than webhooks bring (the simulator's way).
What the traffic must count to is :func:`tickstream.simulator.oracle.oracle`'s business.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import msgspec
from confluent_kafka import Producer

from contract.events import (
    AckEvent,
    CampaignRegistration,
    Dispatch,
    EventBatch,
    MessageEvent,
    Skip,
    encode,
    skip_message_id,
)
from contract.partitioning import partition_for
from contract.topics import Topics
from tickstream.simulator.delays import delay
from tickstream.simulator.labels import TAGS, TEMPLATES, VARIANTS
from tickstream.simulator.webhooks import FAILURES, PROVIDERS


def campaign_events(
    campaigns: int,
    messages_per_campaign: int,
    *,
    seed: int = 1,
    duplicate_share: float = 0.2,
    workspace_of: dict[str, str] | None = None,
    prefix: str = "",
    start: datetime = datetime(2026, 11, 1, 12, 0, tzinfo=UTC),
    skip_share: float = 0.0,
    late_acks: bool = False,
) -> list[MessageEvent]:
    """Dispatches and acks of whole campaigns, shuffled, with the awkward cases of the status rules:
    duplicates, acks before their dispatch, read without delivered, failed then delivered,
    late sent after read, played voice notes, and messages that never got an ack. Messages carry
    labels (a template per campaign, an A/B variant that changes how often they are read, tags;
    a few none, a few dispatched twice with other labels), acks realistic delays
    (``tickstream.simulator.delays``) with the provider's time or only the arrival's, and
    failures the providers' real codes and texts. With ``late_acks`` the delays reach a day, as
    in life; without, each is cut at ``QUICK_DELAY`` seconds, so that every ack comes within a
    minute or two of its dispatch (tests that wait for message state to expire)."""
    rng = random.Random(seed)
    events: list[MessageEvent] = []
    for c in range(campaigns):
        campaign_id = f"{prefix}c{c}"
        workspace = (workspace_of or {}).get(campaign_id, f"w{c % 3}")
        template = TEMPLATES[c % len(TEMPLATES)]
        for m in range(messages_per_campaign):
            message_id = f"{prefix}c{c}-m{m}"
            at = start + timedelta(seconds=m * 0.01)
            recipient = f"+5511{c:03d}{m:06d}"
            roll = rng.random()
            if roll < skip_share:
                # skipped (twice, reasons differing); a third of them dispatched after all
                for code, reason in (("no_account", "No WhatsApp account"), ("opt_out", "")):
                    events.append(
                        Skip(
                            message_id=skip_message_id(campaign_id, recipient),
                            campaign_id=campaign_id,
                            workspace_id=workspace,
                            recipient=recipient,
                            reason_code=code,
                            reason=reason,
                            received_at=at,
                        )
                    )
                if roll > skip_share * 2 / 3:
                    continue
            dispatch = Dispatch(
                message_id=message_id,
                campaign_id=campaign_id,
                workspace_id=workspace,
                recipient=recipient,
                dispatched_at=at,
                received_at=at,
            )
            read_probability = 0.6
            if rng.random() >= 0.05:  # most messages are labelled
                variant, read_probability = VARIANTS[rng.randrange(len(VARIANTS))]
                tags = sorted(rng.sample(TAGS, rng.randint(0, 3)))
                dispatch = msgspec.structs.replace(
                    dispatch, template=template, variant=variant, tags=tags
                )
                if rng.random() < 0.02:  # recorded again with other labels: the largest win
                    events.append(_relabelled(rng, dispatch, at))
            events.append(dispatch)
            events += _acks(rng, message_id, at, read_probability, late_acks)
    duplicates = rng.sample(events, int(len(events) * duplicate_share))
    events += duplicates
    rng.shuffle(events)
    return events


def _relabelled(rng: random.Random, dispatch: Dispatch, at: datetime) -> Dispatch:
    """The dispatch of ``at`` recorded again, up to 30 s later and with no time of its own, its
    variant and tags drawn again (their union may exceed five tags)."""
    return msgspec.structs.replace(
        dispatch,
        variant=VARIANTS[rng.randrange(len(VARIANTS))][0],
        tags=sorted(rng.sample(TAGS, rng.randint(1, 4))),
        dispatched_at=None,
        received_at=at + timedelta(seconds=rng.uniform(0, 30)),
    )


# the longest delay of a status when acks are not late
QUICK_DELAY = 20.0
# every provider's failures: (code, title) as ingest reads them
ALL_FAILURES = tuple(failure for provider in PROVIDERS for failure in FAILURES[provider])


def _acks(
    rng: random.Random, message_id: str, at: datetime, read_probability: float, late: bool
) -> list[MessageEvent]:
    """The acks of a message dispatched ``at``: its fate, each status after a realistic delay,
    all stamped with the provider's time (and received a little later) or none (received then);
    now and then a read with no delivered report, or a sent whose report comes after the read."""
    stamped = rng.random() < 0.7
    error = ALL_FAILURES[rng.randrange(len(ALL_FAILURES))]
    roll = rng.random()
    reads = rng.random() < read_probability
    statuses: tuple[str, ...] = ("sent", "delivered", "read")
    if roll < 0.05:
        statuses = ()  # never acknowledged: stays pending
    elif roll < 0.12:
        statuses = ("failed",)
    elif roll < 0.17:
        statuses = ("sent", "failed", "delivered")  # failed on one device, delivered on another
    elif roll < 0.25:
        statuses = ("sent",)
    elif not reads:
        statuses = ("sent", "delivered")
    elif roll < 0.33:
        statuses = ("sent", "delivered", "read", "played")  # a voice note
    acks: dict[str, AckEvent] = {}
    after = 0.0
    for status in statuses:
        after += delay(rng, status) if late else min(QUICK_DELAY, delay(rng, status))
        when = at + timedelta(seconds=after)
        failed = status == "failed"
        acks[status] = AckEvent(
            message_id=message_id,
            status=status,  # type: ignore[arg-type]
            received_at=when + timedelta(seconds=rng.expovariate(1.0)) if stamped else when,
            occurred_at=when if stamped else None,
            provider="api",
            error_code=error[0] if failed else "",
            error_title=error[1] if failed else "",
        )
    if "read" in acks and rng.random() < 0.2:
        del acks["delivered"]  # read receipt with no delivered before it
    if "read" in acks and stamped and rng.random() < 0.15:
        after_read = acks["read"].received_at + timedelta(seconds=1)  # a late sent after read
        acks["sent"] = msgspec.structs.replace(acks["sent"], received_at=after_read)
    return list(acks.values())


def registrations(
    campaign_ids: Iterable[str], workspace_of: dict[str, str], total: int
) -> list[CampaignRegistration]:
    return [
        CampaignRegistration(
            campaign_id=campaign_id,
            workspace_id=workspace_of[campaign_id],
            name=f"Campaign {campaign_id}",
            total_recipients=total,
            uuid=f"uuid-{campaign_id}",
        )
        for campaign_id in campaign_ids
    ]


def produce_events(
    bootstrap: str, topics: Topics, events: list[MessageEvent], batch_size: int = 200
) -> int:
    """Write events to ``ack-events`` the way ingest does: one record per partition per batch."""
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 5,
            "message.max.bytes": 16 * 1024 * 1024,
        }
    )
    records = 0
    pending: dict[int, list[MessageEvent]] = defaultdict(list)

    def send(partition: int, batch: list[MessageEvent]) -> None:
        nonlocal records
        producer.produce(
            topics.ack_events,
            key=batch[0].message_id.encode(),
            value=encode(EventBatch(events=batch)),
            partition=partition,
        )
        producer.poll(0)
        records += 1

    for event in events:
        partition = partition_for(event.message_id, topics.partitions)
        pending[partition].append(event)
        if len(pending[partition]) >= batch_size:
            send(partition, pending.pop(partition))
    for partition, batch in pending.items():
        send(partition, batch)
    if producer.flush(60) != 0:
        raise RuntimeError("Kafka did not acknowledge every event")
    return records


def produce_registrations(
    bootstrap: str, topics: Topics, items: list[CampaignRegistration]
) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    for item in items:
        producer.produce(
            topics.campaign_events,
            key=item.campaign_id.encode(),
            value=encode(item),
            partition=partition_for(item.campaign_id, topics.partitions),
        )
    if producer.flush(60) != 0:
        raise RuntimeError("Kafka did not acknowledge every registration")

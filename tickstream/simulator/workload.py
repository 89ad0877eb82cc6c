"""Synthetic campaign traffic written straight to Kafka, as ingest writes it: for the worker's
tests and benchmark, which need more events, faster, than webhooks bring (the simulator's way).
What the traffic must count to is :func:`tickstream.simulator.oracle.oracle`'s business.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

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
) -> list[MessageEvent]:
    """Dispatches and acks of whole campaigns, shuffled, with the awkward cases of the status rules:
    duplicates, acks before their dispatch, read without delivered, failed then delivered,
    late sent after read, played voice notes, and messages that never got an ack."""
    rng = random.Random(seed)
    events: list[MessageEvent] = []
    for c in range(campaigns):
        campaign_id = f"{prefix}c{c}"
        workspace = (workspace_of or {}).get(campaign_id, f"w{c % 3}")
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
            events.append(
                Dispatch(
                    message_id=message_id,
                    campaign_id=campaign_id,
                    workspace_id=workspace,
                    recipient=recipient,
                    dispatched_at=at,
                    received_at=at,
                )
            )
            events += _acks(rng, message_id, at)
    duplicates = rng.sample(events, int(len(events) * duplicate_share))
    events += duplicates
    rng.shuffle(events)
    return events


def _acks(rng: random.Random, message_id: str, at: datetime) -> list[MessageEvent]:
    def ack(status: str, delay: float, error_code: str = "", error_title: str = "") -> AckEvent:
        when = at + timedelta(seconds=delay)
        return AckEvent(
            message_id=message_id,
            status=status,  # type: ignore[arg-type]
            received_at=when,
            occurred_at=when,
            provider="api",
            error_code=error_code,
            error_title=error_title,
        )

    roll = rng.random()
    if roll < 0.05:
        return []  # never acknowledged: stays pending
    if roll < 0.12:
        return [ack("failed", 2, error_code="131026", error_title="Message undeliverable")]
    if roll < 0.17:
        # failed on one device, delivered on another: delivery wins
        return [ack("sent", 1), ack("failed", 2, error_code="131049"), ack("delivered", 3)]
    if roll < 0.25:
        return [ack("sent", 1)]
    if roll < 0.30:
        return [ack("read", 5)]  # read receipt with no delivered before it
    if roll < 0.33:
        return [ack("sent", 1), ack("delivered", 2), ack("read", 4), ack("played", 9)]
    if roll < 0.40:
        return [ack("read", 4), ack("sent", 1)]  # a late sent after read
    if roll < 0.70:
        return [ack("sent", 1), ack("delivered", 2)]
    return [ack("sent", 1), ack("delivered", 2), ack("read", 30)]


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

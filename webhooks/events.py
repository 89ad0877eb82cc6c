"""What a snapshot means to a receiver: the webhook events derived from it (docs/webhooks.md,
"Events"). Pure, no I/O.

Each event's id is a function of the snapshot alone, so a snapshot read twice (a replay after a
crash, or the same completion seen in many snapshots) gives the same ids, and the outbox's key
(subscription, event id) keeps one delivery of each.
"""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec

from contract.events import AwareDatetime, Snapshot

STATISTICS = "campaign.statistics"
COMPLETED = "campaign.completed"
EVENT_TYPES = (COMPLETED, STATISTICS)


class WebhookEvent(msgspec.Struct, frozen=True, kw_only=True):
    """The body of one webhook request: the event, and the snapshot it came from as ``data``."""

    id: str
    type: str
    created_at: AwareDatetime
    workspace_id: str
    campaign_id: str
    campaign_uuid: str
    data: Snapshot


def utc_text(moment: datetime) -> str:
    """The time as the snapshots write it: UTC, ISO 8601, ``Z`` (so an id that holds it matches
    the same field of ``data`` character for character)."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def statistics_id(snapshot: Snapshot) -> str:
    return f"{snapshot.campaign_id}:statistics:{snapshot.seq}"


def completed_id(campaign_id: str, completed_at: datetime) -> str:
    """One per completion: a campaign that completes, gains audience and completes again has
    a new ``completed_at``, hence a second event."""
    return f"{campaign_id}:completed:{utc_text(completed_at)}"


def events_of(snapshot: Snapshot) -> list[WebhookEvent]:
    """``campaign.statistics`` for every snapshot, then ``campaign.completed`` when the snapshot
    says the campaign is complete. ``created_at`` is the snapshot's own time, not the time it was
    read, so a replay gives the same bodies."""
    ids = [(STATISTICS, statistics_id(snapshot))]
    completed_at = snapshot.statistics.completed_at
    if completed_at is not None:
        ids.append((COMPLETED, completed_id(snapshot.campaign_id, completed_at)))
    return [
        WebhookEvent(
            id=event_id,
            type=kind,
            created_at=snapshot.timestamp,
            workspace_id=snapshot.workspace_id,
            campaign_id=snapshot.campaign_id,
            campaign_uuid=snapshot.campaign_uuid,
            data=snapshot,
        )
        for kind, event_id in ids
    ]

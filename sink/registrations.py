"""Which campaign registrations of a batch the sink applies, and which it refuses. Pure.

A campaign belongs to one workspace for ever: the gateway shows a workspace only its own
campaigns, so a registration that would move a campaign elsewhere is refused (it goes to the
dead-letter topic with the reason) rather than silently leaking or hiding its data.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from contract.events import CampaignRegistration, encode

from .records import DeadLetter, Origin


@dataclass(frozen=True, slots=True)
class Registration:
    """A registration to apply, with the time it counts from."""

    campaign: CampaignRegistration
    updated_at: datetime


def refusal(campaign_id: str, owner: str, claimed: str) -> str:
    return (
        f"campaign {campaign_id!r} belongs to workspace {owner!r}; "
        f"a registration naming workspace {claimed!r} is refused"
    )


def dead_letter(campaign: CampaignRegistration, origin: Origin, reason: str) -> DeadLetter:
    """A refused registration, re-encoded (the same JSON the producer wrote) with its key."""
    return DeadLetter(origin, reason, campaign.campaign_id.encode(), encode(campaign))


def registration_time(campaign: CampaignRegistration, origin: Origin) -> datetime:
    """The sender's receive time, else the Kafka record's time: never the sink's clock, so a
    replay writes the same value."""
    return campaign.received_at or origin.timestamp or datetime.now(UTC)


def settle(
    registrations: list[tuple[CampaignRegistration, Origin]], owners: Mapping[str, str]
) -> tuple[list[Registration], list[DeadLetter]]:
    """Per campaign, the last registration in log order that keeps the campaign's workspace.

    ``owners`` maps campaign ids already stored to their workspace; a new campaign belongs to
    the workspace its first registration in this batch names.
    """
    owner = dict(owners)
    latest: dict[str, Registration] = {}
    refused: list[DeadLetter] = []
    for campaign, origin in registrations:
        known = owner.setdefault(campaign.campaign_id, campaign.workspace_id)
        if known != campaign.workspace_id:
            reason = refusal(campaign.campaign_id, known, campaign.workspace_id)
            refused.append(dead_letter(campaign, origin, reason))
            continue
        latest[campaign.campaign_id] = Registration(campaign, registration_time(campaign, origin))
    return [latest[key] for key in sorted(latest)], refused

"""What a sender key may write (docs/ingest.md, "Sender keys"): items of its own workspace, for
campaigns registered to that workspace. Campaign ids are global, so the body's ``workspace_id``
alone proves nothing; the campaign's registered workspace is what is checked.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from contract.events import CampaignOwner, CampaignRegistration, Dispatch, Skip

Owned = Dispatch | Skip | CampaignRegistration
OwnerOf = Callable[[str], str | None]


@dataclass(frozen=True, slots=True)
class Scope:
    """Whom a ``/v1`` request writes for: one workspace (a sender key), or any (None: the global
    ``INGEST_API_TOKEN`` of trusted internal senders)."""

    workspace: str | None


TRUSTED = Scope(None)


class Forbidden(Exception):
    """An authenticated sender writing outside its workspace: 403, nothing produced."""

    def __init__(self, detail: str, item: int, campaign_id: str) -> None:
        super().__init__(detail)
        self.detail = detail
        self.item = item
        self.campaign_id = campaign_id


def unknown_campaigns(items: Sequence[Owned], owner_of: OwnerOf) -> set[str]:
    return {item.campaign_id for item in items if owner_of(item.campaign_id) is None}


def check(scope: Scope, items: Sequence[Owned], owner_of: OwnerOf) -> None:
    """Raise :class:`Forbidden` for the first item ``scope`` may not write.

    A registration may claim a campaign nobody registered yet; a dispatch or skip needs its
    campaign registered, to this workspace.
    """
    if scope.workspace is None:
        return
    for number, item in enumerate(items):
        campaign = item.campaign_id
        if item.workspace_id != scope.workspace:
            raise Forbidden(
                f"this sender key writes for workspace {scope.workspace} only, "
                f"not {item.workspace_id}",
                number,
                campaign,
            )
        owner = owner_of(campaign)
        if owner is None and not isinstance(item, CampaignRegistration):
            raise Forbidden(
                f"campaign {campaign} is not registered: register it first "
                "(POST /v1/campaigns with this key)",
                number,
                campaign,
            )
        if owner is not None and owner != scope.workspace:
            raise Forbidden(
                f"campaign {campaign} belongs to another workspace than this sender key's",
                number,
                campaign,
            )


def claims(registrations: Sequence[CampaignRegistration], owner_of: OwnerOf) -> list[CampaignOwner]:
    """The owner records of the campaigns these registrations bring in (first one each)."""
    new: dict[str, CampaignOwner] = {}
    for item in registrations:
        if owner_of(item.campaign_id) is None and item.campaign_id not in new:
            assert item.received_at is not None  # ingest stamps every registration
            new[item.campaign_id] = CampaignOwner(
                campaign_id=item.campaign_id,
                workspace_id=item.workspace_id,
                registered_at=item.received_at,
            )
    return list(new.values())

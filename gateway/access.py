"""Which campaigns and channels a workspace may see: the one rule behind REST, /ws and the
gateway's Pusher auth endpoint. Unknown and other-workspace campaigns look the same (not found),
so a token cannot even probe which campaign ids exist elsewhere.
"""

from __future__ import annotations

from aiohttp import web

from gateway import db
from gateway.channels import Channel, Kind
from gateway.keys import ENGINE, FEED


async def campaign_for(app: web.Application, ref: str, workspace_id: str) -> db.CampaignRef | None:
    """The campaign of ``workspace_id`` named ``ref`` (id or uuid): from the snapshots held in
    memory, else from the database; None when there is none in this workspace."""
    held = app[FEED].store.get(workspace_id, ref)
    if held is not None:
        return db.CampaignRef(held.campaign_id, held.workspace_id)
    if not db.storable(ref):
        return None
    return await db.find_campaign(app[ENGINE], ref, workspace_id)


async def channel_allowed(app: web.Application, channel: Channel, workspace_id: str) -> bool:
    """A workspace may read its own workspace channel and the channels of its own campaigns."""
    if channel.kind is Kind.WORKSPACE:
        return channel.ref == workspace_id
    if channel.kind is Kind.CAMPAIGN:
        return await campaign_for(app, channel.ref, workspace_id) is not None
    return False

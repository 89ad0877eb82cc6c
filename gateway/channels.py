"""Channel names shared by the native WebSocket and the Pusher protocol, and which channels a
snapshot is published on.

Names: ``campaign.<campaign id or uuid>``, ``workspace.<workspace id>``, and for Pusher their
``private-`` forms. Laravel campaigns have both an id and a uuid; the original app listens on
``campaign.<uuid>``, so a snapshot goes to both names. Any other name is an "other" channel that
only the Pusher HTTP API publishes to.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from contract.events import Snapshot

PRIVATE = "private-"
UNSUPPORTED_PREFIXES = ("presence-", "private-encrypted-")
MAX_CHANNEL_LENGTH = 200


class Kind(Enum):
    CAMPAIGN = "campaign"
    WORKSPACE = "workspace"
    OTHER = "other"


class ChannelError(ValueError):
    """A channel name the gateway cannot serve."""


@dataclass(frozen=True, slots=True)
class Channel:
    name: str
    private: bool
    kind: Kind
    ref: str  # campaign id/uuid or workspace id; "" for other channels


def parse_channel(name: str) -> Channel:
    """Split a channel name into its parts; refuse names the gateway does not serve."""
    if not isinstance(name, str) or not name or len(name) > MAX_CHANNEL_LENGTH:
        raise ChannelError("channel must be a non-empty string of at most 200 characters")
    if name.startswith(UNSUPPORTED_PREFIXES):
        raise ChannelError(f"presence and encrypted channels are not supported: {name}")
    private = name.startswith(PRIVATE)
    base = name[len(PRIVATE) :] if private else name
    for kind in (Kind.CAMPAIGN, Kind.WORKSPACE):
        prefix = f"{kind.value}."
        if base.startswith(prefix):
            ref = base[len(prefix) :]
            if not ref:
                raise ChannelError(f"{name} names no {kind.value}")
            return Channel(name, private, kind, ref)
    return Channel(name, private, Kind.OTHER, "")


def snapshot_channels(snapshot: Snapshot) -> list[str]:
    """Every channel name on which this snapshot is published (public and private forms)."""
    refs = [snapshot.campaign_id]
    if snapshot.campaign_uuid and snapshot.campaign_uuid != snapshot.campaign_id:
        refs.append(snapshot.campaign_uuid)
    bases = [f"campaign.{ref}" for ref in refs] + [f"workspace.{snapshot.workspace_id}"]
    return bases + [PRIVATE + base for base in bases]

"""The latest snapshot of every campaign, in memory: what a subscriber receives at once.

Kept per campaign id; the highest ``seq`` wins, so replaying ``campaign-stats`` from an earlier
offset, or loading the database after the consumer, never moves a campaign backwards.

A campaign is named by its id or its uuid, and one workspace's uuid may equal another's id, so a
name only means something within a workspace: :meth:`SnapshotStore.get` resolves ``(workspace,
ref)``, the id first. Only unscoped Pusher channels (public, or signed by the Laravel app, whose
workspace the gateway does not know) ask for every campaign of a name (:meth:`named`).
"""

from __future__ import annotations

from collections import defaultdict

from contract.events import Snapshot


class SnapshotStore:
    def __init__(self) -> None:
        self._by_id: dict[str, Snapshot] = {}
        self._by_uuid: dict[tuple[str, str], str] = {}  # (workspace, uuid) -> campaign id
        self._uuid_workspaces: defaultdict[str, set[str]] = defaultdict(set)
        self._by_workspace: defaultdict[str, set[str]] = defaultdict(set)

    def __len__(self) -> int:
        return len(self._by_id)

    def offer(self, snapshot: Snapshot) -> bool:
        """Keep ``snapshot`` if it is newer than the one held; True when it was kept."""
        held = self._by_id.get(snapshot.campaign_id)
        if held is not None and held.seq >= snapshot.seq:
            return False
        if held is not None:
            self._by_workspace[held.workspace_id].discard(held.campaign_id)
            named = (held.workspace_id, held.campaign_uuid)
            if self._by_uuid.get(named) == held.campaign_id:
                del self._by_uuid[named]
                self._uuid_workspaces[held.campaign_uuid].discard(held.workspace_id)
        self._by_id[snapshot.campaign_id] = snapshot
        if snapshot.campaign_uuid:
            self._by_uuid[(snapshot.workspace_id, snapshot.campaign_uuid)] = snapshot.campaign_id
            self._uuid_workspaces[snapshot.campaign_uuid].add(snapshot.workspace_id)
        self._by_workspace[snapshot.workspace_id].add(snapshot.campaign_id)
        return True

    def get(self, workspace_id: str, ref: str) -> Snapshot | None:
        """The latest snapshot of the campaign of ``workspace_id`` named ``ref`` (id, else uuid)."""
        found = self._by_id.get(ref)
        if found is not None and found.workspace_id == workspace_id:
            return found
        campaign_id = self._by_uuid.get((workspace_id, ref))
        return None if campaign_id is None else self._by_id.get(campaign_id)

    def named(self, ref: str) -> list[Snapshot]:
        """Every campaign, of any workspace, whose id or uuid is ``ref``."""
        by_uuid = (self._by_uuid[(w, ref)] for w in sorted(self._uuid_workspaces.get(ref, ())))
        ids = dict.fromkeys([ref, *by_uuid])
        return [self._by_id[i] for i in ids if i in self._by_id]

    def of_workspace(self, workspace_id: str) -> list[Snapshot]:
        """The latest snapshot of each campaign of a workspace, by campaign id."""
        ids = sorted(self._by_workspace.get(workspace_id, ()))
        return [self._by_id[i] for i in ids]

"""The latest snapshot of every campaign, in memory: what a subscriber receives at once.

Kept per campaign id; the highest ``seq`` wins, so replaying ``campaign-stats`` from an earlier
offset, or loading the database after the consumer, never moves a campaign backwards.
"""

from __future__ import annotations

from collections import defaultdict

from contract.events import Snapshot


class SnapshotStore:
    def __init__(self) -> None:
        self._by_id: dict[str, Snapshot] = {}
        self._uuid_to_id: dict[str, str] = {}
        self._by_workspace: defaultdict[str, set[str]] = defaultdict(set)

    def __len__(self) -> int:
        return len(self._by_id)

    def offer(self, snapshot: Snapshot) -> bool:
        """Keep ``snapshot`` if it is newer than the one held; True when it was kept."""
        held = self._by_id.get(snapshot.campaign_id)
        if held is not None and held.seq >= snapshot.seq:
            return False
        if held is not None and held.workspace_id != snapshot.workspace_id:
            self._by_workspace[held.workspace_id].discard(held.campaign_id)
        self._by_id[snapshot.campaign_id] = snapshot
        if snapshot.campaign_uuid:
            self._uuid_to_id[snapshot.campaign_uuid] = snapshot.campaign_id
        self._by_workspace[snapshot.workspace_id].add(snapshot.campaign_id)
        return True

    def get(self, ref: str) -> Snapshot | None:
        """The latest snapshot of a campaign named by its id or its uuid."""
        found = self._by_id.get(ref)
        if found is None and ref in self._uuid_to_id:
            found = self._by_id.get(self._uuid_to_id[ref])
        return found

    def of_workspace(self, workspace_id: str) -> list[Snapshot]:
        """The latest snapshot of each campaign of a workspace, by campaign id."""
        ids = sorted(self._by_workspace.get(workspace_id, ()))
        return [self._by_id[i] for i in ids]

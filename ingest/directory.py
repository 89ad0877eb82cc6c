"""What every ingest instance knows about tenancy: the sender keys and each campaign's workspace,
as read from ``sender-keys``, ``campaign-owners`` and ``campaign-events`` (docs/ingest.md).

Pure state; ``ingest/follower.py`` feeds it from Kafka.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from contract.events import CampaignOwner, CampaignRegistration, SenderKey


@dataclass(slots=True)
class Directory:
    keys: dict[str, SenderKey] = field(default_factory=dict)
    revoked: set[str] = field(default_factory=set)
    owners: dict[str, str] = field(default_factory=dict)
    # campaigns registered before campaign-owners existed: the first registration's workspace,
    # as the worker keeps it ("a campaign never moves to another workspace")
    registered: dict[str, str] = field(default_factory=dict)

    def apply_key(self, record: SenderKey) -> None:
        """A revocation is final, whatever comes after it."""
        if record.revoked_at is not None:
            self.revoked.add(record.key_id)
            self.keys.pop(record.key_id, None)
        elif record.key_id not in self.revoked:
            self.keys[record.key_id] = record

    def apply_owner(self, record: CampaignOwner) -> None:
        """The last record of a campaign wins: it is the one compaction keeps, so every instance
        ends with the same owner whenever it started reading."""
        self.owners[record.campaign_id] = record.workspace_id

    def apply_registration(self, registration: CampaignRegistration) -> None:
        self.registered.setdefault(registration.campaign_id, registration.workspace_id)

    def owner(self, campaign_id: str) -> str | None:
        """The workspace ``campaign_id`` belongs to, None when it was never registered."""
        return self.owners.get(campaign_id) or self.registered.get(campaign_id)

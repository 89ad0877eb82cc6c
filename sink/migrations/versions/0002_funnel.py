"""The campaign funnel (docs/contract.md): skip counts, queued vs awaiting update, start and
completion.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)

# Every new column has a server default (or is nullable), so existing rows stay valid and a
# sink of the previous version keeps writing while this one rolls out.
_STATS_COUNTS = ["skipped_count", "queued_count", "awaiting_update_count"]
_STATS_TIMES = ["started_at", "completed_at"]
_STATUS_FLAGS = ["skipped", "attempted"]
_STATUS_TEXTS = ["skip_reason_code", "skip_reason"]


def upgrade() -> None:
    for name in _STATS_COUNTS:
        op.add_column(
            "campaign_stats", sa.Column(name, sa.Integer, nullable=False, server_default="0")
        )
    for name in _STATS_TIMES:
        op.add_column("campaign_stats", sa.Column(name, TS))
    op.add_column(
        "campaign_stats_windows",
        sa.Column("skipped", sa.Integer, nullable=False, server_default="0"),
    )
    for name in _STATUS_FLAGS:
        op.add_column(
            "message_status", sa.Column(name, sa.Boolean, nullable=False, server_default="false")
        )
    for name in _STATUS_TEXTS:
        op.add_column("message_status", sa.Column(name, sa.Text, nullable=False, server_default=""))


def downgrade() -> None:
    for name in [*_STATUS_FLAGS, *_STATUS_TEXTS]:
        op.drop_column("message_status", name)
    op.drop_column("campaign_stats_windows", "skipped")
    for name in [*_STATS_COUNTS, *_STATS_TIMES]:
        op.drop_column("campaign_stats", name)

"""Campaign insights and message labels (docs/insights.md): the latest snapshot's insights, and
each message's template, variant and tags.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# Nullable or with a server default, like 0002's columns: existing rows stay valid and a sink of
# the previous version keeps writing while this one rolls out.
_LABELS = ["template", "variant"]


def upgrade() -> None:
    op.add_column("campaign_stats", sa.Column("insights", JSONB))
    for name in _LABELS:
        op.add_column("message_status", sa.Column(name, sa.Text, nullable=False, server_default=""))
    op.add_column("message_status", sa.Column("tags", JSONB, nullable=False, server_default="[]"))


def downgrade() -> None:
    for name in [*_LABELS, "tags"]:
        op.drop_column("message_status", name)
    op.drop_column("campaign_stats", "insights")

"""Initial schema: campaigns, campaign_stats, campaign_stats_windows, message_status.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "campaigns",
        sa.Column("campaign_id", sa.Text, primary_key=True),
        sa.Column("workspace_id", sa.Text, nullable=False),
        sa.Column("campaign_uuid", sa.Text, nullable=False, server_default=""),
        sa.Column("name", sa.Text, nullable=False, server_default=""),
        sa.Column("total_recipients", sa.Integer, nullable=False, server_default="0"),
        sa.Column("created_at", TS, nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", TS, nullable=False, server_default=sa.func.now()),
    )
    op.create_index("ix_campaigns_workspace", "campaigns", ["workspace_id", "campaign_id"])
    op.create_index("ix_campaigns_uuid", "campaigns", ["campaign_uuid"])

    op.create_table(
        "campaign_stats",
        sa.Column("campaign_id", sa.Text, primary_key=True),
        sa.Column("workspace_id", sa.Text, nullable=False),
        sa.Column("campaign_uuid", sa.Text, nullable=False, server_default=""),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("total_message_count", sa.Integer, nullable=False),
        sa.Column("total_sent_count", sa.Integer, nullable=False),
        sa.Column("total_delivered_count", sa.Integer, nullable=False),
        sa.Column("total_read_count", sa.Integer, nullable=False),
        sa.Column("total_played_count", sa.Integer, nullable=False),
        sa.Column("total_failed_count", sa.Integer, nullable=False),
        sa.Column("pending_count", sa.Integer, nullable=False),
        sa.Column("delivery_rate", sa.Float, nullable=False),
        sa.Column("read_rate", sa.Float, nullable=False),
        sa.Column("success_rate", sa.Float, nullable=False),
        sa.Column("snapshot", JSONB, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_index("ix_campaign_stats_workspace", "campaign_stats", ["workspace_id"])

    op.create_table(
        "campaign_stats_windows",
        sa.Column("campaign_id", sa.Text, primary_key=True),
        sa.Column("window_start", TS, primary_key=True),
        sa.Column("window_end", TS, nullable=False),
        sa.Column("workspace_id", sa.Text, nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("sent", sa.Integer, nullable=False),
        sa.Column("delivered", sa.Integer, nullable=False),
        sa.Column("read", sa.Integer, nullable=False),
        sa.Column("played", sa.Integer, nullable=False),
        sa.Column("failed", sa.Integer, nullable=False),
        sa.Column("total_sent_count", sa.Integer, nullable=False),
        sa.Column("total_delivered_count", sa.Integer, nullable=False),
        sa.Column("total_read_count", sa.Integer, nullable=False),
        sa.Column("total_played_count", sa.Integer, nullable=False),
        sa.Column("total_failed_count", sa.Integer, nullable=False),
    )

    op.create_table(
        "message_status",
        sa.Column("message_id", sa.Text, primary_key=True),
        sa.Column("campaign_id", sa.Text, nullable=False),
        sa.Column("workspace_id", sa.Text, nullable=False),
        sa.Column("recipient", sa.Text, nullable=False, server_default=""),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("max_rank", sa.SmallInteger, nullable=False),
        sa.Column("failed", sa.Boolean, nullable=False),
        sa.Column("dispatched_at", TS),
        sa.Column("sent_at", TS),
        sa.Column("delivered_at", TS),
        sa.Column("read_at", TS),
        sa.Column("played_at", TS),
        sa.Column("failed_at", TS),
        sa.Column("error_code", sa.Text, nullable=False, server_default=""),
        sa.Column("error_title", sa.Text, nullable=False, server_default=""),
        sa.Column("participants", JSONB, nullable=False, server_default="{}"),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_index(
        "ix_message_status_campaign_status",
        "message_status",
        ["campaign_id", "status", "message_id"],
    )
    op.create_index("ix_message_status_campaign", "message_status", ["campaign_id", "message_id"])


def downgrade() -> None:
    op.drop_table("message_status")
    op.drop_table("campaign_stats_windows")
    op.drop_table("campaign_stats")
    op.drop_table("campaigns")

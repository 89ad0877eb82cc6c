"""Erased numbers (docs/operations.md, "Erasure"): ``message_status.erased``, merged with OR like
the worker's flag, so a record read again from before the erasure cannot bring the number back.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # With a server default, like 0002's and 0004's columns: existing rows stay valid and a sink
    # of the previous version keeps writing while this one rolls out.
    op.add_column(
        "message_status",
        sa.Column("erased", sa.Boolean, nullable=False, server_default="false"),
    )


def downgrade() -> None:
    op.drop_column("message_status", "erased")

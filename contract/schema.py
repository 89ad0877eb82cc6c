"""The PostgreSQL schema (docs/sink.md) as SQLAlchemy Core tables: the sink writes them, the
gateway reads them. Alembic migrations in ``sink/migrations`` create and evolve the real schema;
these definitions must match the newest migration (a test compares them). Every list of column
names elsewhere is derived from here, so a new column is added in one place.
"""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

metadata = sa.MetaData()

TS = sa.DateTime(timezone=True)


def column_names(table: sa.Table, *, leave_out: Iterable[str] = ()) -> tuple[str, ...]:
    """The table's column names in their defined order, but for ``leave_out``.

    Each name left out must be a column: a renamed column fails here, at import, rather than
    silently joining a list it was kept out of.
    """
    excluded = set(leave_out)
    unknown = excluded - set(table.c.keys())
    if unknown:
        raise KeyError(f"{table.name} has no column {', '.join(sorted(unknown))}")
    return tuple(column.name for column in table.c if column.name not in excluded)


campaigns = sa.Table(
    "campaigns",
    metadata,
    sa.Column("campaign_id", sa.Text, primary_key=True),
    sa.Column("workspace_id", sa.Text, nullable=False),
    sa.Column("campaign_uuid", sa.Text, nullable=False, server_default=""),
    sa.Column("name", sa.Text, nullable=False, server_default=""),
    sa.Column("total_recipients", sa.Integer, nullable=False, server_default="0"),
    sa.Column("created_at", TS, nullable=False, server_default=sa.func.now()),
    sa.Column("updated_at", TS, nullable=False, server_default=sa.func.now()),
    sa.Index("ix_campaigns_workspace", "workspace_id", "campaign_id"),
    sa.Index("ix_campaigns_uuid", "campaign_uuid"),
)

# The latest snapshot of each campaign: an older seq never overwrites a newer one.
campaign_stats = sa.Table(
    "campaign_stats",
    metadata,
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
    # the funnel (migration 0002): total = queued + awaiting_update + sent + failed + skipped
    sa.Column("skipped_count", sa.Integer, nullable=False, server_default="0"),
    sa.Column("queued_count", sa.Integer, nullable=False, server_default="0"),
    sa.Column("awaiting_update_count", sa.Integer, nullable=False, server_default="0"),
    sa.Column("started_at", TS),
    sa.Column("completed_at", TS),
    # the snapshot's insights (docs/insights.md, migration 0004), NULL until it has any
    sa.Column("insights", JSONB),
    sa.Index("ix_campaign_stats_workspace", "workspace_id"),
)

# The snapshot's statistics that campaign_stats keeps as columns of the same names, next to the
# whole snapshot, its insights and the campaign it belongs to.
STATISTICS_COLUMNS = column_names(
    campaign_stats,
    leave_out=(
        "campaign_id",
        "workspace_id",
        "campaign_uuid",
        "seq",
        "snapshot",
        "updated_at",
        "insights",
    ),
)

# One row per campaign and window: what changed in it, and the cumulative counts at its end.
campaign_stats_windows = sa.Table(
    "campaign_stats_windows",
    metadata,
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
    sa.Column("skipped", sa.Integer, nullable=False, server_default="0"),
)

# A window's cumulative counts at its end carry the names of the campaign's statistics; its other
# counts are what changed within it.
WINDOW_TOTALS = tuple(
    name for name in column_names(campaign_stats_windows) if name in STATISTICS_COLUMNS
)
WINDOW_CHANGES = column_names(
    campaign_stats_windows,
    leave_out=("campaign_id", "window_start", "window_end", "workspace_id", "seq", *WINDOW_TOTALS),
)

# One row per message: where it went and the first time each status was seen.
message_status = sa.Table(
    "message_status",
    metadata,
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
    # skip rows (message_id "skip:{campaign}:{recipient}", migration 0002)
    sa.Column("skipped", sa.Boolean, nullable=False, server_default="false"),
    sa.Column("attempted", sa.Boolean, nullable=False, server_default="false"),
    sa.Column("skip_reason_code", sa.Text, nullable=False, server_default=""),
    sa.Column("skip_reason", sa.Text, nullable=False, server_default=""),
    # the labels of its dispatch (docs/insights.md, migration 0004); tags sorted, at most five
    sa.Column("template", sa.Text, nullable=False, server_default=""),
    sa.Column("variant", sa.Text, nullable=False, server_default=""),
    sa.Column("tags", JSONB, nullable=False, server_default="[]"),
    # the recipient's number was erased (docs/operations.md, "Erasure", migration 0006): merged
    # with OR, and while set, recipient and participants stay empty
    sa.Column("erased", sa.Boolean, nullable=False, server_default="false"),
    sa.Index("ix_message_status_campaign_status", "campaign_id", "status", "message_id"),
    sa.Index("ix_message_status_campaign", "campaign_id", "message_id"),
)

# Workspace tokens revoked before their expiry, by key id (`tickstream token --revoke`); every
# gateway reloads the list every GATEWAY_REVOCATION_REFRESH_SECONDS (docs/gateway.md).
revoked_tokens = sa.Table(
    "revoked_tokens",
    metadata,
    sa.Column("kid", sa.Text, primary_key=True),
    sa.Column("revoked_at", TS, nullable=False, server_default=sa.func.now()),
)

# Outbound webhooks (docs/webhooks.md, migration 0005): a workspace's URL and the event types it
# wants (`tickstream webhook add`), and the deliverer's state of it — consecutive failed tries, no
# try before paused_until, and one deliverer serves it until leased_until (so its events go out
# one at a time, in order).
webhook_subscriptions = sa.Table(
    "webhook_subscriptions",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("workspace_id", sa.Text, nullable=False),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("events", ARRAY(sa.Text), nullable=False),
    sa.Column("secret", sa.Text, nullable=False),
    sa.Column("created_at", TS, nullable=False, server_default=sa.func.now()),
    sa.Column("disabled_at", TS),
    sa.Column("failures", sa.Integer, nullable=False, server_default="0"),
    sa.Column("paused_until", TS),
    sa.Column("leased_until", TS),
    sa.Index("ix_webhook_subscriptions_workspace", "workspace_id"),
)

# The outbox: one row per subscription and event, written in the transaction that precedes the
# offset commit; the (subscription, event id) key makes a replayed snapshot add nothing. ``id``
# is the order of creation, the order a subscription's events are tried in.
webhook_deliveries = sa.Table(
    "webhook_deliveries",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column(
        "subscription_id",
        sa.BigInteger,
        sa.ForeignKey("webhook_subscriptions.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("event_id", sa.Text, nullable=False),
    sa.Column("event_type", sa.Text, nullable=False),
    sa.Column("payload", JSONB, nullable=False),
    sa.Column("created_at", TS, nullable=False, server_default=sa.func.now()),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_attempt_at", TS, nullable=False, server_default=sa.func.now()),
    sa.Column("delivered_at", TS),
    sa.Column("last_status", sa.Integer),
    sa.Column("last_error", sa.Text, nullable=False, server_default=""),
    sa.Column("given_up_at", TS),
    sa.Index("ix_webhook_deliveries_event", "subscription_id", "event_id", unique=True),
    # what is still to deliver, per subscription in order: small, whatever the table's size
    sa.Index(
        "ix_webhook_deliveries_pending",
        "subscription_id",
        "id",
        postgresql_where=sa.text("delivered_at IS NULL AND given_up_at IS NULL"),
    ),
    sa.Index("ix_webhook_deliveries_created", "created_at"),
)

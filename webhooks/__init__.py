"""Outbound webhooks: campaign events derived from ``campaign-stats``, kept in a PostgreSQL outbox
and posted, signed, to the URLs workspaces registered (docs/webhooks.md)."""

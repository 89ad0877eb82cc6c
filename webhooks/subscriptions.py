"""Registering, listing and removing a workspace's webhook subscriptions (``tickstream webhook``,
docs/webhooks.md, "Subscribing").

What is checked before anything is written: the URL (http or https, with a host), the event types
(known ones, at least one) and the secret. The deliverer reads the table as it stands, so a new
subscription gets the events of snapshots taken from then on, and a removed one no more.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

import sqlalchemy as sa

from contract.schema import webhook_deliveries, webhook_subscriptions

from .events import EVENT_TYPES

SECRET_BYTES = 32
_PENDING = sa.and_(
    webhook_deliveries.c.delivered_at.is_(None), webhook_deliveries.c.given_up_at.is_(None)
)


class SubscriptionError(ValueError):
    """A subscription that cannot be registered; the message says what to change."""


def check_url(url: str) -> str:
    """``url`` if the deliverer can post to it: http or https, a host, nothing else."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - a port out of range raises only when read
    except ValueError as exc:
        raise SubscriptionError(f"not a URL: {url!r} ({exc})") from None
    if parts.scheme not in ("http", "https"):
        raise SubscriptionError(f"the URL must be http:// or https://, not {url!r}")
    if not parts.hostname:
        raise SubscriptionError(f"the URL names no host: {url!r}")
    if any(c.isspace() or not c.isprintable() for c in url):
        raise SubscriptionError(f"the URL holds a space or a control character: {url!r}")
    return url


def parse_events(text: str) -> list[str]:
    """``campaign.completed,campaign.statistics`` as a sorted list without repeats."""
    names = sorted({name.strip() for name in text.split(",") if name.strip()})
    unknown = [name for name in names if name not in EVENT_TYPES]
    if unknown or not names:
        raise SubscriptionError(
            f"unknown event type {', '.join(unknown) or '(none given)'}; "
            f"choose from {', '.join(EVENT_TYPES)}"
        )
    return names


def new_secret() -> str:
    """32 random bytes as hex: what a receiver keys its HMAC-SHA256 with."""
    return secrets.token_hex(SECRET_BYTES)


@dataclass(frozen=True, slots=True)
class Subscription:
    """A subscription as ``tickstream webhook list`` shows it (never its secret)."""

    id: int
    workspace_id: str
    url: str
    events: list[str]
    created_at: datetime
    failures: int
    paused_until: datetime | None
    pending: int


def add(engine: sa.Engine, workspace_id: str, url: str, events: list[str], secret: str) -> int:
    """The new subscription's id."""
    if not workspace_id:
        raise SubscriptionError("the workspace id is empty")
    if not secret:
        raise SubscriptionError("the secret is empty")
    statement = (
        sa.insert(webhook_subscriptions)
        .values(workspace_id=workspace_id, url=check_url(url), events=events, secret=secret)
        .returning(webhook_subscriptions.c.id)
    )
    with engine.begin() as conn:
        return int(conn.execute(statement).scalar_one())


def of_workspace(engine: sa.Engine, workspace_id: str) -> list[Subscription]:
    """The workspace's active subscriptions, oldest first, with what each has still to deliver."""
    s, d = webhook_subscriptions.c, webhook_deliveries.c
    pending = (
        sa.select(sa.func.count()).where(d.subscription_id == s.id, _PENDING).scalar_subquery()
    )
    query = (
        sa.select(
            s.id, s.workspace_id, s.url, s.events, s.created_at, s.failures, s.paused_until, pending
        )
        .where(s.workspace_id == workspace_id, s.disabled_at.is_(None))
        .order_by(s.id)
    )
    with engine.connect() as conn:
        return [Subscription(*row) for row in conn.execute(query)]


def remove(engine: sa.Engine, subscription_id: int) -> int | None:
    """Disable the subscription and give up what it still had to deliver (how many); None if
    there is no such active subscription. The row stays, for the deliveries that name it."""
    s, d = webhook_subscriptions.c, webhook_deliveries.c
    with engine.begin() as conn:
        disabled = conn.execute(
            sa.update(webhook_subscriptions)
            .where(s.id == subscription_id, s.disabled_at.is_(None))
            .values(disabled_at=sa.func.now())
            .returning(s.id)
        ).first()
        if disabled is None:
            return None
        given_up = conn.execute(
            sa.update(webhook_deliveries)
            .where(d.subscription_id == subscription_id, _PENDING)
            .values(given_up_at=sa.func.now(), last_error="subscription removed")
        )
        return max(0, given_up.rowcount)

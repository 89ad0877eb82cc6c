"""``tickstream webhook add|list|remove|deliver``: a workspace's outbound webhooks
(docs/webhooks.md). ``deliver`` runs the deliverer, exactly as ``python -m webhooks``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from contract.settings import DatabaseSettings, sqlalchemy_url
from tickstream.state_dir import default_state_dir, load_local_infra

if TYPE_CHECKING:  # imported when a command needs it: every `tickstream` command reads this file
    import sqlalchemy as sa


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True)
    add = actions.add_parser("add", help="post a workspace's events to a URL; prints id and secret")
    add.add_argument("--workspace", required=True, help="the workspace whose events are posted")
    add.add_argument("--url", required=True, help="the receiver, http:// or https://")
    add.add_argument(
        "--events", required=True, help="comma-separated: campaign.completed,campaign.statistics"
    )
    add.add_argument("--secret", help="the HMAC-SHA256 key (default: 32 random bytes, as hex)")
    listing = actions.add_parser("list", help="a workspace's subscriptions (never their secrets)")
    listing.add_argument("--workspace", required=True)
    remove = actions.add_parser("remove", help="stop a subscription; what it still had is dropped")
    remove.add_argument("--id", type=int, required=True, help="the id `add` printed")
    actions.add_parser("deliver", help="run the deliverer (python -m webhooks)")


def run(args: argparse.Namespace) -> int:
    # the addresses of `tickstream infra up`, never a secret, as for a service run by hand
    load_local_infra(default_state_dir())
    if args.action == "deliver":
        from webhooks.__main__ import main

        return main()
    from webhooks.subscriptions import SubscriptionError

    database_url = DatabaseSettings.from_env().database_url
    if not database_url:
        print("DATABASE_URL is not set and no local cluster runs", file=sys.stderr)
        return 2
    try:
        with _engine(database_url) as engine:
            if args.action == "add":
                return _add(engine, args)
            if args.action == "list":
                return _list(engine, args.workspace)
            return _remove(engine, args.id)
    except SubscriptionError as exc:
        print(f"tickstream webhook {args.action}: {exc}", file=sys.stderr)
        return 2


@contextmanager
def _engine(database_url: str) -> Iterator[sa.Engine]:
    import sqlalchemy as sa

    engine = sa.create_engine(sqlalchemy_url(database_url), poolclass=sa.NullPool)
    try:
        yield engine
    finally:
        engine.dispose()


def _add(engine: sa.Engine, args: argparse.Namespace) -> int:
    """The id and the secret on stdout (``id N`` and ``secret S``, one a line); how to verify
    and how to remove on stderr."""
    from webhooks import subscriptions

    events = subscriptions.parse_events(args.events)
    secret = args.secret if args.secret is not None else subscriptions.new_secret()
    subscription_id = subscriptions.add(engine, args.workspace, args.url, events, secret)
    print(f"id {subscription_id}")
    print(f"secret {secret}")
    print(
        f"workspace {args.workspace}: {', '.join(events)} → {args.url}\n"
        "each request carries X-Timestamp and X-HMAC-Signature = hex HMAC-SHA256(secret, "
        "X-Timestamp + raw body) (docs/webhooks.md); "
        f"remove with `tickstream webhook remove --id {subscription_id}`",
        file=sys.stderr,
    )
    return 0


def _list(engine: sa.Engine, workspace_id: str) -> int:
    from webhooks import subscriptions

    found = subscriptions.of_workspace(engine, workspace_id)
    if not found:
        print(f"workspace {workspace_id} has no webhook subscription", file=sys.stderr)
        return 0
    print(f"{'id':>6}  {'events':38} {'pending':>8}  {'state':30} url")
    for item in found:
        state = "ok"
        if item.failures:
            until = item.paused_until.isoformat(timespec="seconds") if item.paused_until else "-"
            state = f"failing ({item.failures}×), next {until}"
        print(f"{item.id:>6}  {','.join(item.events):38} {item.pending:>8}  {state:30} {item.url}")
    return 0


def _remove(engine: sa.Engine, subscription_id: int) -> int:
    from webhooks import subscriptions

    dropped = subscriptions.remove(engine, subscription_id)
    if dropped is None:
        print(f"no active webhook subscription {subscription_id}", file=sys.stderr)
        return 1
    print(f"removed {subscription_id}; {dropped} undelivered events dropped")
    return 0

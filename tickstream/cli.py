"""The ``tickstream`` command: topics, the schema, each service, and the development tools."""

from __future__ import annotations

import argparse
import importlib
import inspect
import sys
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import TypeVar

from contract.settings import DatabaseSettings, ServiceSettings
from tickstream.state_dir import default_state_dir, load_dev_env, load_local_infra


def _use_local_infra() -> None:
    """Fill unset addresses from what ``tickstream infra up`` and ``tickstream up`` wrote.

    Only the command line does this, before any service reads its settings; the services
    themselves read nothing but their environment. Secrets are not filled in: a service started
    this way refuses what needs an unset secret, as it does in production.
    """
    load_local_infra(default_state_dir())


S = TypeVar("S", bound=ServiceSettings)


def _settings_with_local_infra(kind: type[S]) -> S:
    _use_local_infra()
    return kind.from_env()


def cmd_topics(args: argparse.Namespace) -> int:
    from contract.admin import create_topics
    from contract.topics import Topics

    settings = _settings_with_local_infra(ServiceSettings)
    if not settings.kafka_bootstrap:
        print("KAFKA_BOOTSTRAP is not set and no local broker runs: run `tickstream infra up`")
        return 2
    specs = Topics.from_settings(settings).all()
    created = set(create_topics(settings.kafka_bootstrap, specs))
    for spec in specs:
        state = "created" if spec.name in created else "exists"
        print(f"{spec.name:40} {spec.partitions:3} partitions  key: {spec.key:12} {state}")
    return 0


def cmd_db(args: argparse.Namespace) -> int:
    from sink.migrate import upgrade

    settings = _settings_with_local_infra(DatabaseSettings)
    if not settings.database_url:
        print("DATABASE_URL is not set and no local cluster runs: run `tickstream infra up`")
        return 2
    upgrade(settings.database_url)
    print("database schema is at the newest migration")
    return 0


def cmd_service(args: argparse.Namespace) -> int:
    """Run one service in this process, exactly as ``python -m <package>`` does."""
    package = SERVICES[args.command]
    module = importlib.import_module(f"{package}.__main__")
    takes_flags = bool(inspect.signature(module.main).parameters)
    if args.options and not takes_flags:
        print(
            f"tickstream {args.command} takes no flags (got {' '.join(args.options)}); "
            "it is configured by environment variables (README, settings table)",
            file=sys.stderr,
        )
        return 2
    _use_local_infra()
    return int(module.main(args.options) if takes_flags else module.main())


def cmd_token(args: argparse.Namespace) -> int:
    """Print a token on stdout (its key id on stderr, for revoking it), or revoke a key id."""
    from gateway.auth import issue_token, verify_token
    from gateway.settings import GatewaySettings

    # a development tool too: signs with the secret of `tickstream up` when none is set
    load_dev_env(default_state_dir())
    settings = GatewaySettings.from_env()
    if args.revoke:
        return _revoke_token(settings.database_url, args.revoke)
    if not settings.token_secret:
        print("TOKEN_SECRET is not set: tokens cannot be signed", file=sys.stderr)
        return 2
    token = issue_token(settings.token_secret, args.workspace, ttl_seconds=args.ttl)
    kid = verify_token(settings.token_secret, token).kid
    print(f"key id {kid} (revoke with `tickstream token --revoke {kid}`)", file=sys.stderr)
    print(token)
    return 0


def _revoke_token(database_url: str, kid: str) -> int:
    import sqlalchemy as sa
    from sqlalchemy.dialects.postgresql import insert

    from contract.schema import revoked_tokens
    from contract.settings import sqlalchemy_url

    if not database_url:
        print("DATABASE_URL is not set and no local cluster runs", file=sys.stderr)
        return 2
    engine = sa.create_engine(sqlalchemy_url(database_url), poolclass=sa.NullPool)
    try:
        with engine.begin() as conn:
            conn.execute(insert(revoked_tokens).values(kid=kid).on_conflict_do_nothing())
    finally:
        engine.dispose()
    print(f"revoked {kid}: gateways refuse it within GATEWAY_REVOCATION_REFRESH_SECONDS")
    return 0


def cmd_sender_key(args: argparse.Namespace) -> int:
    """Print a new sender key on stdout (its key id on stderr, for revoking it), or revoke one.

    The key's record (its secret's SHA-256, never the secret) goes to ``sender-keys``, which every
    ingest follows (docs/ingest.md, "Sender keys").
    """
    from datetime import UTC, datetime

    from confluent_kafka import Producer

    from contract.events import encode
    from contract.partitioning import partition_for
    from contract.topics import Topics
    from ingest.sender_keys import issue, revocation

    settings = _settings_with_local_infra(ServiceSettings)
    if not settings.kafka_bootstrap:
        print("KAFKA_BOOTSTRAP is not set and no local broker runs", file=sys.stderr)
        return 2
    now = datetime.now(UTC)
    if args.revoke:
        token, record = "", revocation(args.revoke, now)
    else:
        token, record = issue(args.workspace, now)
    topics = Topics.from_settings(settings)
    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap, "acks": "all"})
    errors: list[str] = []
    producer.produce(
        topics.sender_keys,
        key=record.key_id,
        value=encode(record),
        partition=partition_for(record.key_id, topics.partitions),
        on_delivery=lambda error, _: errors.append(str(error)) if error else None,
    )
    if producer.flush(30) or errors:
        print(f"Kafka did not take the key's record: {errors or 'timeout'}", file=sys.stderr)
        return 1
    if args.revoke:
        print(f"revoked {record.key_id}: every ingest refuses it within a second")
        return 0
    print(
        f"key id {record.key_id} for workspace {args.workspace} "
        f"(revoke with `tickstream sender-key --revoke {record.key_id}`)",
        file=sys.stderr,
    )
    print(token)
    return 0


def cmd_erase(args: argparse.Namespace) -> int:
    """Erase a recipient's number (docs/operations.md, "Erasure")."""
    from sink.settings import SinkSettings
    from tickstream.erase import run

    return run(args, _settings_with_local_infra(SinkSettings))


SERVICES = {"ingest": "ingest", "worker": "streams", "sink": "sink", "gateway": "gateway"}

# The development tools, each a module with add_arguments(parser) and run(args). A module is
# imported only when its command is named: the production image leaves them out (.dockerignore).
DEV_COMMANDS = {
    "infra": ("tickstream.infra.command", "local Kafka broker and PostgreSQL cluster"),
    "up": ("tickstream.up", "run the whole pipeline locally until Ctrl-C"),
    "simulate": ("tickstream.simulator.command", "drive realistic campaigns through the webhooks"),
    "bench": ("tickstream.bench.pipeline", "end-to-end benchmark against the original design"),
}


def _dev_module(name: str) -> ModuleType:
    try:
        return importlib.import_module(DEV_COMMANDS[name][0])
    except ModuleNotFoundError as exc:
        if not (exc.name or "").startswith("tickstream."):
            raise
        raise SystemExit(
            f"tickstream {name} is a development tool, not part of this installation "
            "(the production image has the services' commands only): run it from a checkout"
        ) from exc


def build_parser(named: str | None = None) -> argparse.ArgumentParser:
    """The whole command line; of the development tools, only the ``named`` one is imported."""
    parser = argparse.ArgumentParser(prog="tickstream", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    topics = sub.add_parser("topics", help="Kafka topics")
    topics.add_argument("action", choices=["create"])
    topics.set_defaults(func=cmd_topics)

    db = sub.add_parser("db", help="PostgreSQL schema")
    db.add_argument("action", choices=["upgrade"])
    db.set_defaults(func=cmd_db)

    for name, package in SERVICES.items():
        service = sub.add_parser(
            name, help=f"run the {name} service (python -m {package}); its own flags follow"
        )
        service.add_argument("options", nargs=argparse.REMAINDER, help="the service's own flags")
        service.set_defaults(func=cmd_service)

    token = sub.add_parser("token", help="issue (or revoke) a workspace token for the gateway")
    which = token.add_mutually_exclusive_group(required=True)
    which.add_argument("--workspace", help="issue a token for this workspace")
    which.add_argument("--revoke", metavar="KID", help="revoke the token of this key id")
    token.add_argument("--ttl", type=int, default=12 * 3600, help="seconds (default 12 hours)")
    token.set_defaults(func=cmd_token)

    sender_key = sub.add_parser(
        "sender-key", help="issue (or revoke) a sender key that writes for one workspace only"
    )
    which = sender_key.add_mutually_exclusive_group(required=True)
    which.add_argument("--workspace", help="issue a key for this workspace")
    which.add_argument("--revoke", metavar="KEY_ID", help="revoke the key of this id")
    sender_key.set_defaults(func=cmd_sender_key)

    webhook = sub.add_parser(
        "webhook", help="a workspace's outbound webhooks: add, list, remove, deliver"
    )
    if named == "webhook":
        from tickstream import webhook_command

        webhook_command.add_arguments(webhook)
        webhook.set_defaults(func=webhook_command.run)

    erase = sub.add_parser(
        "erase", help="erase a recipient's number from the tables and the worker's state"
    )
    if named == "erase":
        from tickstream.erase import add_arguments

        add_arguments(erase)
    erase.set_defaults(func=cmd_erase)

    for name, (_, help_text) in DEV_COMMANDS.items():
        tool = sub.add_parser(name, help=help_text)
        if name == named:
            module = _dev_module(name)
            module.add_arguments(tool)
            tool.set_defaults(func=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments and arguments[0] in SERVICES:
        # everything after the name is the service's own (`tickstream sink --migrate`, `--help`)
        args = argparse.Namespace(command=arguments[0], options=arguments[1:], func=cmd_service)
    else:
        named = next((word for word in arguments if not word.startswith("-")), None)
        args = build_parser(named).parse_args(arguments)
    func: Callable[[argparse.Namespace], int] = args.func
    if args.command not in DEV_COMMANDS:
        return func(args)
    from tickstream.infra.processes import InfraError

    try:
        return func(args)
    except InfraError as exc:  # a server a development tool needs is missing or did not start
        print(f"tickstream: {exc}", file=sys.stderr)
        return 1

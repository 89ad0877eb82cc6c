"""The ``tickstream`` command: local infrastructure, topics, and each service."""

from __future__ import annotations

import argparse
import importlib
import inspect
import os
import sys
from collections.abc import Callable, Sequence

from contract.settings import Settings
from tickstream.devenv import load_dev_env
from tickstream.infra import InfraError, LocalInfra, default_state_dir


def _use_local_infra() -> None:
    """Fill unset settings from what ``tickstream infra up`` and ``tickstream up`` wrote.

    Only the command line does this, before any service reads its settings; the services
    themselves read nothing but their environment.
    """
    load_dev_env(default_state_dir())


def _settings_with_local_infra() -> Settings:
    _use_local_infra()
    return Settings.from_env()


def cmd_infra(args: argparse.Namespace) -> int:
    infra = LocalInfra(default_state_dir())
    if args.action == "up":
        if os.environ.get("KAFKA_BOOTSTRAP") and os.environ.get("DATABASE_URL"):
            print("KAFKA_BOOTSTRAP and DATABASE_URL are set: using your servers, starting nothing")
            return 0
        timings = infra.up()
        for name, seconds in timings.items():
            print(f"{name} started in {seconds:.1f}s")
        for name, state in infra.status().items():
            print(f"{name}: {state}")
        print(f"addresses written to {infra.env_file}")
    elif args.action == "down":
        stopped = infra.down()
        print("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))
    else:
        for name, state in infra.status().items():
            print(f"{name}: {state}")
    return 0


def cmd_topics(args: argparse.Namespace) -> int:
    from contract.admin import create_topics
    from contract.topics import Topics

    settings = _settings_with_local_infra()
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

    settings = _settings_with_local_infra()
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
            "it is configured by environment variables (README, Settings)",
            file=sys.stderr,
        )
        return 2
    _use_local_infra()
    return int(module.main(args.options) if takes_flags else module.main())


def cmd_token(args: argparse.Namespace) -> int:
    from gateway.auth import issue_token

    _use_local_infra()
    settings = Settings.from_env()
    if not settings.token_secret:
        print("TOKEN_SECRET is not set: tokens cannot be signed", file=sys.stderr)
        return 2
    print(issue_token(settings.token_secret, args.workspace, ttl_seconds=args.ttl))
    return 0


SERVICES = {"ingest": "ingest", "worker": "streams", "sink": "sink", "gateway": "gateway"}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tickstream", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    infra = sub.add_parser("infra", help="local Kafka broker and PostgreSQL cluster")
    infra.add_argument("action", choices=["up", "down", "status"])
    infra.set_defaults(func=cmd_infra)

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

    token = sub.add_parser("token", help="issue a workspace token for the gateway")
    token.add_argument("--workspace", required=True)
    token.add_argument("--ttl", type=int, default=30 * 24 * 3600, help="seconds (default 30 days)")
    token.set_defaults(func=cmd_token)

    from tickstream import simulate, up
    from tickstream.bench import pipeline

    up.add_parser(sub)
    simulate.add_parser(sub)
    pipeline.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments and arguments[0] in SERVICES:
        # everything after the name is the service's own (`tickstream sink --migrate`, `--help`)
        args = argparse.Namespace(command=arguments[0], options=arguments[1:], func=cmd_service)
    else:
        args = build_parser().parse_args(arguments)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except InfraError as exc:
        print(f"tickstream: {exc}", file=sys.stderr)
        return 1

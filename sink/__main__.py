"""``python -m sink`` / ``tickstream sink``: Kafka → PostgreSQL.

``--migrate`` (or ``SINK_MIGRATE=true``) brings the schema to the newest migration before
consuming, so a fresh database needs no separate ``tickstream db upgrade``.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from aiohttp import web

from contract.logs import configure_logging
from sink.settings import SinkSettings

from .app import create_app
from .migrate import upgrade

log = logging.getLogger("sink")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sink", description=__doc__)
    parser.add_argument(
        "--migrate", action="store_true", help="run the database migrations before consuming"
    )
    args = parser.parse_args(list(argv or []))
    settings = SinkSettings.from_env()
    configure_logging("sink", settings.log_level, settings.log_format)
    if not settings.kafka_bootstrap or not settings.database_url:
        log.error("KAFKA_BOOTSTRAP and DATABASE_URL must be set (or run `tickstream infra up`)")
        return 2
    if args.migrate or settings.sink_migrate:
        upgrade(settings.database_url)
        log.info("database schema is at the newest migration")
    web.run_app(
        create_app(settings),
        host=settings.bind_host,
        port=settings.sink_port,
        print=None,
        access_log=None,
        shutdown_timeout=5.0,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

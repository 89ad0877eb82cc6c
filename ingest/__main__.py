"""``python -m ingest`` / ``tickstream ingest``: serve until SIGTERM or SIGINT."""

from __future__ import annotations

import logging

import uvloop
from aiohttp import web

from ingest.app import create_app
from streams.settings import Settings


def main() -> int:
    settings = Settings.from_env()
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    log = logging.getLogger("ingest")
    if not settings.kafka_bootstrap:
        log.error("KAFKA_BOOTSTRAP is not set")
        return 2
    # run_app turns SIGTERM/SIGINT into a graceful shutdown: stop accepting, finish requests,
    # then run the cleanup contexts (which flush the producer).
    web.run_app(
        create_app(settings),
        host=settings.bind_host,
        port=settings.ingest_port,
        access_log=None,
        loop=uvloop.new_event_loop(),
        shutdown_timeout=settings.produce_timeout_seconds + 1.0,
        print=log.info,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""``python -m webhooks`` / ``tickstream webhook deliver``: campaign events to the receivers the
workspaces registered (docs/webhooks.md), until SIGTERM or Ctrl-C."""

from __future__ import annotations

import logging

from aiohttp import web

from contract.logs import configure_logging
from webhooks.settings import WebhookSettings

from .app import create_app

log = logging.getLogger("webhooks")


def main() -> int:
    settings = WebhookSettings.from_env()
    configure_logging("webhooks", settings.log_level, settings.log_format)
    if not settings.kafka_bootstrap or not settings.database_url:
        log.error("KAFKA_BOOTSTRAP and DATABASE_URL must be set (or run `tickstream infra up`)")
        return 2
    web.run_app(
        create_app(settings),
        host=settings.bind_host,
        port=settings.webhooks_port,
        print=None,
        access_log=None,
        shutdown_timeout=5.0,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

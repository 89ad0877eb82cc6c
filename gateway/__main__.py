"""``python -m gateway`` / ``tickstream gateway``: serve the gateway until SIGTERM or Ctrl-C."""

from __future__ import annotations

import logging
import resource

from aiohttp import web

from contract.logs import configure_logging
from contract.settings import SettingsError
from gateway.access_log import PathOnlyAccessLogger
from gateway.app import create_app
from gateway.settings import GatewaySettings


def raise_open_files_limit() -> int:
    """Every client is a socket: lift the soft descriptor limit to the hard one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def main() -> int:
    settings = GatewaySettings.from_env()
    configure_logging("gateway", settings.log_level, settings.log_format)
    try:
        app = create_app(settings)
    except SettingsError as exc:
        logging.getLogger("gateway").error("%s", exc)
        return 2
    raise_open_files_limit()
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover - uvloop is a dependency; stay usable without it
        pass
    web.run_app(
        app,
        host=settings.bind_host,
        port=settings.gateway_port,
        print=None,
        shutdown_timeout=5.0,
        backlog=4096,
        access_log_class=PathOnlyAccessLogger,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""``python -m streams`` / ``tickstream worker``: run the Faust worker."""

from __future__ import annotations

from collections.abc import Callable

import faust
import uvloop
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from contract.logs import configure_logging, logging_config
from streams.metrics import REGISTRY
from streams.settings import WorkerSettings
from streams.worker import create_worker, ready


def create_status_app(is_ready: Callable[[], bool]) -> web.Application:
    """``/metrics``, ``/healthz`` (the process answers) and ``/readyz`` of the worker process.

    ``/readyz`` is 200 once the tables of every partition the worker owns are read to the end and
    no rebalance is under way (:func:`streams.worker.ready`): a rolling deploy that waits for it
    stops the next worker only after this one has taken its partitions back.
    """

    async def health(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readiness(_: web.Request) -> web.Response:
        if is_ready():
            return web.json_response({"status": "ready"})
        return web.json_response({"status": "recovering"}, status=503)

    async def prometheus(_: web.Request) -> web.Response:
        return web.Response(
            body=generate_latest(REGISTRY), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )

    status = web.Application()
    status.router.add_get("/healthz", health)
    status.router.add_get("/readyz", readiness)
    status.router.add_get("/metrics", prometheus)
    return status


def main() -> int:
    settings = WorkerSettings.from_env()
    configure_logging("worker", settings.log_level, settings.log_format)
    uvloop.install()
    app = create_worker(settings)
    runner = web.AppRunner(create_status_app(lambda: ready(app)))

    @app.task
    async def serve_status() -> None:
        await runner.setup()
        await web.TCPSite(runner, settings.bind_host, settings.worker_port).start()

    worker_for(app, settings).execute_from_commandline()
    return 0


def worker_for(app: faust.App, settings: WorkerSettings) -> faust.Worker:
    """The Faust worker, without its start-up spinner.

    With a log level of WARNING or above the spinner sets the root logger to DEBUG (its own
    handler spins on every record), so every debug call in aiokafka and Faust built a log record
    that was then dropped: about 8 % of the worker's time in the end-to-end benchmark.
    """
    worker = faust.Worker(
        app,
        loglevel=settings.log_level,
        # Faust replaces the logging configuration when it starts: with this one, not its own
        logging_config=logging_config("worker", settings.log_level, settings.log_format),
    )
    worker.spinner = None
    return worker


if __name__ == "__main__":
    raise SystemExit(main())

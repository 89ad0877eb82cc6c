"""The worker's log level is the one configured: debug calls in aiokafka and Faust stay cheap."""

from __future__ import annotations

import logging
import sys

import pytest

from streams.__main__ import worker_for
from tests.unit.worker_apps import unit_worker


@pytest.mark.parametrize("level", ["WARNING", "ERROR", "INFO"])
def test_the_root_logger_keeps_the_configured_level(level: str) -> None:
    root = logging.getLogger()
    saved_level, saved_handlers = root.level, root.handlers[:]
    saved_streams = sys.stdout, sys.stderr  # the worker redirects them into the log
    try:
        with unit_worker(log_level=level) as (app, settings):
            worker = worker_for(app, settings)
            worker._setup_logging()  # what starting the worker does first
            assert root.level == logging.getLevelName(level)
            assert not logging.getLogger("aiokafka").isEnabledFor(logging.DEBUG)
    finally:
        root.setLevel(saved_level)
        root.handlers[:] = saved_handlers
        sys.stdout, sys.stderr = saved_streams

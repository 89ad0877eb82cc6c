"""The worker's log level is the one configured: debug calls in aiokafka and Faust stay cheap."""

from __future__ import annotations

import logging
import sys

import pytest

from streams.__main__ import worker_for
from streams.settings import WorkerSettings
from streams.worker import create_worker


@pytest.mark.parametrize("level", ["WARNING", "ERROR", "INFO"])
def test_the_root_logger_keeps_the_configured_level(level: str) -> None:
    root = logging.getLogger()
    saved_level, saved_handlers = root.level, root.handlers[:]
    saved_streams = sys.stdout, sys.stderr  # the worker redirects them into the log
    try:
        settings = WorkerSettings(
            kafka_bootstrap="127.0.0.1:1", topic_prefix="unit-", log_level=level
        )
        worker = worker_for(create_worker(settings), settings)
        worker._setup_logging()  # what starting the worker does first
        assert root.level == logging.getLevelName(level)
        assert not logging.getLogger("aiokafka").isEnabledFor(logging.DEBUG)
    finally:
        root.setLevel(saved_level)
        root.handlers[:] = saved_handlers
        sys.stdout, sys.stderr = saved_streams

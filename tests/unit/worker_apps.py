"""Worker apps for tests that look at how the worker is wired, without a broker."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import faust

from streams.faust_transport import WorkerConsumer
from streams.settings import WorkerSettings
from streams.worker import create_worker


@contextmanager
def unit_worker(**settings: Any) -> Iterator[tuple[faust.App, WorkerSettings]]:
    """A worker app pointed at no broker. Its consumer thread makes an event loop of its own with
    the app, which only a started (and stopped) worker would close: closed here afterwards."""
    config = WorkerSettings(kafka_bootstrap="127.0.0.1:1", topic_prefix="unit-", **settings)
    app = create_worker(config)
    try:
        yield app, config
    finally:
        consumer = app.consumer
        assert isinstance(consumer, WorkerConsumer)
        consumer._thread.thread_loop.close()

"""The ``progress:`` line: what tells a stalled worker from an idle one (docs/worker.md)."""

from __future__ import annotations

import logging

import faust

from streams import metrics
from streams.faust_transport import consumer_state, recovery_complete

log = logging.getLogger(__name__)


def log_progress(app: faust.App, lag_topic: str) -> None:
    log.info(
        "progress: %d events joined, %d partials, %d snapshots; recovery %s; %s",
        metrics.EVENTS._value.get(),
        metrics.PARTIALS._value.get(),
        metrics.SNAPSHOTS._value.get(),
        "complete" if recovery_complete(app) else "running",
        consumer_state(app, lag_topic),
    )

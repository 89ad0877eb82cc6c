"""Benchmarks: ``python -m tickstream.bench.<name>`` starts what it needs and prints figures."""

from __future__ import annotations

import signal
import sys
from types import FrameType


def stop_cleanly_on_sigterm() -> None:
    """Turn SIGTERM (``timeout``, a CI runner, Ctrl-C's cousin) into ``SystemExit``, so that a
    benchmark's ``finally`` blocks stop the broker and services it started; killed without this,
    benchmarks left their brokers running."""

    def exit_now(signum: int, _frame: FrameType | None) -> None:
        sys.exit(128 + signum)

    signal.signal(signal.SIGTERM, exit_now)

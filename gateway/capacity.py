"""Bounds on what clients may hold at once, refused at the door rather than queued.

Unauthenticated Pusher sockets are capped per process and per client address (``request.remote``:
behind a proxy that is the proxy, so the per-address cap then belongs in the proxy), and CSV
exports by the number of slots their engine has connections for (:mod:`gateway.export`).
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Iterator


class OverCapacity(Exception):
    """No room for one more; the message says which bound was reached."""


class ExportSlots:
    """How many exports may run at once; beyond them a request is refused, never queued (a queue
    would only hold its client's connection open for longer)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.busy = 0

    @contextlib.contextmanager
    def slot(self) -> Iterator[None]:
        if self.busy >= self.size:
            raise OverCapacity(f"{self.size} exports are running; retry later")
        self.busy += 1
        try:
            yield
        finally:
            self.busy -= 1


class ConnectionLimits:
    """At most ``total`` connections in this process, and ``per_address`` from one address."""

    def __init__(self, total: int, per_address: int) -> None:
        self.total = total
        self.per_address = per_address
        self._open: Counter[str] = Counter()

    @property
    def open(self) -> int:
        return self._open.total()

    @contextlib.contextmanager
    def admit(self, address: str) -> Iterator[None]:
        if self.open >= self.total:
            raise OverCapacity("Over capacity")
        if self._open[address] >= self.per_address:
            raise OverCapacity("Over capacity: too many connections from this address")
        self._open[address] += 1
        try:
            yield
        finally:
            self._open[address] -= 1
            if not self._open[address]:
                del self._open[address]

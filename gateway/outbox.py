"""A client's frames not yet written to its socket, with conflation and a bound.

Snapshots carry a conflation key (channel and campaign): a newer one replaces the pending older
one in place, so a client that falls behind receives the latest state, not a backlog. Other frames
(replies, Pusher HTTP API events) are kept in order. More than ``limit`` pending frames means the
client cannot keep up at all: :class:`Overflow` tells the caller to drop it.
"""

from __future__ import annotations

import itertools
from collections.abc import Hashable


class Overflow(Exception):
    """The client has more pending frames than allowed."""


class Outbox:
    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._frames: dict[Hashable, tuple[str, float]] = {}
        self._unique = itertools.count()

    def __len__(self) -> int:
        return len(self._frames)

    def put(self, frame: str, received_at: float, key: Hashable | None = None) -> None:
        """Queue ``frame``; with a ``key``, replace the pending frame of the same key."""
        slot = ("u", next(self._unique)) if key is None else key
        if slot not in self._frames and len(self._frames) >= self._limit:
            raise Overflow(f"more than {self._limit} frames pending")
        self._frames[slot] = (frame, received_at)

    def take(self) -> list[tuple[str, float]]:
        """Every pending frame with the time its content reached the gateway, oldest slot first."""
        frames = list(self._frames.values())
        self._frames.clear()
        return frames

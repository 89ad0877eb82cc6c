"""How long to wait after a failed try (docs/webhooks.md, "Retries"). Pure, no I/O."""

from __future__ import annotations


def backoff_seconds(failures: int, first: float, cap: float, jitter: float) -> float:
    """The wait after the ``failures``-th failed try in a row: ``first`` doubled each time, never
    more than ``cap``, scaled by ``jitter`` (0 to 1) into the upper half of that.

    The cap bounds how long a receiver that came back waits for its next try; the jitter spreads
    the tries of deliveries that failed together (a receiver's outage) so that they do not all
    come back at once, and keeping to the upper half keeps the doubling meaningful.
    """
    if failures < 1:
        return 0.0
    # a float multiplication past its range gives inf (min() then takes the cap); ** would raise
    base = min(cap, first * 2.0 ** min(failures - 1, 1000))
    return base * (0.5 + 0.5 * jitter)

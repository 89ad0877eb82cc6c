"""How long each status of a message takes after the one before it, in seconds of real life: from
a fraction of a second (sent) through minutes and hours (a phone offline, a message read when its
reader gets to it) to a day (read the next day), so that every bucket of the time distributions
(docs/insights.md) sees traffic. Pure; the caller's seeded generator draws them.
"""

from __future__ import annotations

import math
import random

MINUTE, HOUR, DAY = 60.0, 3600.0, 86400.0


def log_uniform(rng: random.Random, low: float, high: float) -> float:
    """A duration spread evenly over orders of magnitude between ``low`` and ``high``."""
    return math.exp(rng.uniform(math.log(low), math.log(high)))


def delay(rng: random.Random, status: str) -> float:
    """Seconds from the previous status (or the dispatch) to ``status``."""
    if status == "pending":
        return rng.uniform(0.05, 0.5)  # queued at the provider
    if status == "sent":
        return rng.lognormvariate(0.0, 0.6)  # about a second
    if status == "failed":
        return rng.lognormvariate(0.7, 0.8)  # about two seconds
    if status == "delivered":
        if rng.random() < 0.15:
            return log_uniform(rng, MINUTE, 8 * HOUR)  # the phone was offline
        return rng.lognormvariate(1.1, 0.8)  # about three seconds
    if status == "read":
        roll = rng.random()
        if roll < 0.35:
            return log_uniform(rng, 5.0, 2 * MINUTE)  # opened from the notification
        if roll < 0.80:
            return log_uniform(rng, 2 * MINUTE, 2 * HOUR)
        if roll < 0.95:
            return log_uniform(rng, 2 * HOUR, 20 * HOUR)
        return rng.uniform(DAY, 1.5 * DAY)  # the next day
    return log_uniform(rng, 3.0, 5 * MINUTE)  # played: a voice note listened to

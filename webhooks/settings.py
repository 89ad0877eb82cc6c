"""The webhook deliverer's settings: how hard it tries, and for how long."""

from __future__ import annotations

from typing import Annotated

import msgspec

from contract.settings import DatabaseSettings, Port, Positive

Count = Annotated[int, msgspec.Meta(ge=1)]


class WebhookSettings(DatabaseSettings, frozen=True, kw_only=True):
    """Read from the environment once by ``python -m webhooks`` (README, settings table).

    The defaults recover a receiver that was down for 10 minutes within 5 minutes of its return
    (the backoff cap) and keep trying for two days (docs/webhooks.md, "Retries").
    """

    webhooks_port: Port = 8094
    webhooks_concurrency: Count = 16  # subscriptions served at once, one request each
    webhooks_timeout_seconds: Positive = 10.0
    webhooks_backoff_first_seconds: Positive = 1.0
    webhooks_backoff_max_seconds: Positive = 300.0
    webhooks_max_age_hours: Positive = 48.0
    webhooks_retention_hours: Positive = 168.0
    webhooks_poll_seconds: Positive = 1.0
    webhooks_batch_records: Count = 500

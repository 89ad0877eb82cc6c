"""The settings of all the services of one deployment, for the tools that drive the whole stack.

Each service reads only its own settings; ``tickstream up``, the simulator and the end-to-end
benchmark start or talk to all of them, so they read every service's settings from one environment.
"""

from __future__ import annotations

from collections.abc import Mapping

import msgspec

from gateway.settings import GatewaySettings
from ingest.settings import IngestSettings
from sink.settings import SinkSettings
from streams.settings import WorkerSettings
from webhooks.settings import WebhookSettings


class Deployment(msgspec.Struct, frozen=True, kw_only=True):
    """One environment read as each service reads it."""

    ingest: IngestSettings
    worker: WorkerSettings
    sink: SinkSettings
    gateway: GatewaySettings
    webhooks: WebhookSettings

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Deployment:
        return cls(
            ingest=IngestSettings.from_env(environ),
            worker=WorkerSettings.from_env(environ),
            sink=SinkSettings.from_env(environ),
            gateway=GatewaySettings.from_env(environ),
            webhooks=WebhookSettings.from_env(environ),
        )

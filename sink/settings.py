"""The sink's settings: how large a batch grows before it is written."""

from __future__ import annotations

from typing import Annotated

import msgspec

from contract.settings import DatabaseSettings, Port


class SinkSettings(DatabaseSettings, frozen=True, kw_only=True):
    """Read from the environment once by ``python -m sink`` (README, settings table)."""

    sink_port: Port = 8091
    sink_batch_records: Annotated[int, msgspec.Meta(ge=1)] = 5000
    sink_batch_ms: Annotated[int, msgspec.Meta(ge=1)] = 200
    sink_migrate: bool = False

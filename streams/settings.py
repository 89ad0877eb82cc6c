"""The stream processor's settings: retention and where its state lives."""

from __future__ import annotations

from typing import Annotated

import msgspec

from contract.settings import Port, Positive, ServiceSettings


class WorkerSettings(ServiceSettings, frozen=True, kw_only=True):
    """Read from the environment once by ``python -m streams`` (README, settings table)."""

    worker_port: Port = 8092
    message_retention_days: Positive = 30.0
    orphan_retention_days: Positive = 1.0
    worker_data_dir: str = ""
    state_dir: str = ""  # the tables' databases; empty: $TMPDIR/tickstream-state
    state_memory_mb: Annotated[int, msgspec.Meta(ge=16)] = 64  # RocksDB cache + write buffers

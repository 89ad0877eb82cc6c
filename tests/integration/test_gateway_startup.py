"""A gateway started before the schema exists waits for it instead of exiting (services started
together must not depend on who comes up first)."""

from __future__ import annotations

import asyncio
import signal

import pytest

from contract.settings import DatabaseSettings
from sink.migrate import upgrade
from tests.integration.gateway_support import (
    gateway_settings,
    start_gateway_process,
    wait_ready,
)

pytestmark = pytest.mark.integration


async def test_gateway_waits_for_the_migrated_schema(settings: DatabaseSettings) -> None:
    config = gateway_settings(settings)
    proc = start_gateway_process(config)
    try:
        await asyncio.sleep(4)  # the database has no tables yet
        assert proc.poll() is None, "the gateway exited on an unmigrated database"
        await asyncio.to_thread(upgrade, settings.database_url)
        await wait_ready(f"http://127.0.0.1:{config.gateway_port}", proc)
    finally:
        proc.send_signal(signal.SIGTERM)
        await asyncio.to_thread(proc.wait, 30)

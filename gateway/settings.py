"""The gateway's settings: token and Pusher secrets, and how it treats slow clients."""

from __future__ import annotations

from typing import Annotated

import msgspec

from contract.settings import DatabaseSettings, Port, Positive, SettingsError


class GatewaySettings(DatabaseSettings, frozen=True, kw_only=True):
    """Read from the environment once by ``python -m gateway`` (README, settings table)."""

    gateway_port: Port = 8080
    token_secret: str = ""
    pusher_app_id: str = "tickstream"
    pusher_app_key: str = "tickstream-key"
    pusher_app_secret: str = ""
    public_channels: bool = False
    gateway_send_timeout_seconds: Positive = 10.0
    gateway_max_pending: Annotated[int, msgspec.Meta(ge=1)] = 10000
    gateway_snapshot_lookback_seconds: Annotated[float, msgspec.Meta(ge=0)] = 300.0
    pusher_activity_timeout: Annotated[int, msgspec.Meta(ge=1)] = 30
    pusher_max_connections: Annotated[int, msgspec.Meta(ge=1)] = 20000
    pusher_max_connections_per_address: Annotated[int, msgspec.Meta(ge=1)] = 250
    gateway_revocation_refresh_seconds: Positive = 5.0
    gateway_export_slots: Annotated[int, msgspec.Meta(ge=1)] = 4
    gateway_export_write_timeout_seconds: Positive = 30.0


# HMAC-SHA256 keys shorter than its 32-byte output weaken every token signed with them.
MIN_TOKEN_SECRET_BYTES = 32


def check_token_secret(settings: GatewaySettings) -> None:
    """Refuse to serve with a guessable token secret; an empty one (no tokens at all) is allowed."""
    size = len(settings.token_secret.encode())
    if 0 < size < MIN_TOKEN_SECRET_BYTES:
        raise SettingsError(
            f"TOKEN_SECRET is {size} bytes; use at least {MIN_TOKEN_SECRET_BYTES} "
            "(e.g. `openssl rand -base64 32`), or leave it empty to accept no workspace token"
        )

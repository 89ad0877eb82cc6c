"""One frozen settings object for every tickstream process, read from the environment once.

Every service's ``main()`` calls :func:`Settings.from_env` and passes the result down; nothing else
reads ``os.environ``. The README's settings table documents each field.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any


class SettingsError(ValueError):
    """A setting holds a value that cannot be used; the message names the variable."""


def _parse_bool(name: str, raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise SettingsError(f"{name} must be true or false, not {raw!r}")


@dataclass(frozen=True, slots=True)
class Settings:
    """Every environment variable of spec §7 and the ones added since, with their defaults."""

    kafka_bootstrap: str = ""
    database_url: str = ""
    topic_prefix: str = ""
    topic_partitions: int = 8
    window_seconds: float = 1.0
    ingest_port: int = 8090
    gateway_port: int = 8080
    sink_port: int = 8091
    worker_port: int = 8092
    bind_host: str = "127.0.0.1"
    ingest_api_token: str = ""
    webjs_hmac_secret: str = ""
    waha_hmac_key: str = ""
    evolution_token: str = ""
    meta_app_secret: str = ""
    meta_verify_token: str = ""
    twilio_auth_token: str = ""
    public_base_url: str = ""
    pusher_app_id: str = "tickstream"
    pusher_app_key: str = "tickstream-key"
    pusher_app_secret: str = ""
    token_secret: str = ""
    public_channels: bool = False
    max_body_bytes: int = 1_048_576
    produce_timeout_seconds: float = 5.0
    ingest_linger_ms: float = 25.0
    message_retention_days: float = 30.0
    orphan_retention_days: float = 1.0
    worker_data_dir: str = ""
    log_level: str = "INFO"
    gateway_send_timeout_seconds: float = 10.0
    gateway_max_pending: int = 10000
    gateway_snapshot_lookback_seconds: float = 300.0
    pusher_activity_timeout: int = 30
    sink_batch_records: int = 5000
    sink_batch_ms: int = 200
    sink_migrate: bool = False
    ingest_min_linger_ms: float = 25.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from ``environ`` (default: the process environment)."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for field in fields(cls):
            name = field.name.upper()
            if name not in env:
                continue
            raw = env[name]
            kind = type(field.default)
            try:
                if kind is bool:
                    values[field.name] = _parse_bool(name, raw)
                elif kind is int:
                    values[field.name] = int(raw)
                elif kind is float:
                    values[field.name] = float(raw)
                else:
                    values[field.name] = raw
            except ValueError as exc:
                if isinstance(exc, SettingsError):
                    raise
                raise SettingsError(f"{name} must be a {kind.__name__}, not {raw!r}") from exc
        settings = cls(**values)
        settings.validate()
        return settings

    def validate(self) -> None:
        """Refuse values that would only fail later and far from their cause."""
        if self.topic_partitions < 1:
            raise SettingsError("TOPIC_PARTITIONS must be at least 1")
        if self.window_seconds <= 0:
            raise SettingsError("WINDOW_SECONDS must be positive")
        for port_name in ("ingest_port", "gateway_port", "sink_port", "worker_port"):
            port = getattr(self, port_name)
            if not 0 <= port <= 65535:
                raise SettingsError(f"{port_name.upper()} must be a TCP port, not {port}")

    @property
    def sqlalchemy_url(self) -> str:
        """``DATABASE_URL`` with the psycopg 3 driver named, whatever form the user gave."""
        return sqlalchemy_url(self.database_url)


def sqlalchemy_url(url: str) -> str:
    """Name the psycopg 3 driver in a PostgreSQL URL so that users may give the plain form."""
    for prefix in ("postgresql+psycopg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url

"""Ingest's settings: the senders' secrets and how requests are grouped into Kafka records."""

from __future__ import annotations

from typing import Annotated

import msgspec

from contract.settings import Port, Positive, ServiceSettings

NonNegative = Annotated[float, msgspec.Meta(ge=0)]
Bytes = Annotated[int, msgspec.Meta(ge=1)]


class IngestSettings(ServiceSettings, frozen=True, kw_only=True):
    """Read from the environment once by ``python -m ingest`` (README, settings table)."""

    ingest_port: Port = 8090
    ingest_api_token: str = ""
    webjs_hmac_secret: str = ""
    waha_hmac_key: str = ""
    evolution_token: str = ""
    meta_app_secret: str = ""
    meta_verify_token: str = ""
    twilio_auth_token: str = ""
    public_base_url: str = ""
    produce_timeout_seconds: Positive = 5.0
    ingest_linger_ms: NonNegative = 25.0
    ingest_min_linger_ms: NonNegative = 25.0
    # the Node service's events that are not acks (media messages inlined as base64) are read
    # through the signature and dropped, never held: up to this many bytes (docs/ingest.md)
    webjs_max_ignored_body_bytes: Bytes = 256 * 1024 * 1024

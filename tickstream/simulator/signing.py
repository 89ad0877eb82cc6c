"""Webhook signatures made the way each provider makes them, for whatever stands in for a
provider: the simulator, the ingest benchmark and the tests. Ingest's side, the checks, is
``ingest/auth.py`` (docs/ingest.md)."""

from __future__ import annotations

import hmac

from contract.signing import webjs_headers as webjs_headers
from ingest.auth import twilio_signature


def waha_headers(key: str, body: bytes) -> dict[str, str]:
    return {"X-Webhook-Hmac": _hex(key, "sha512", body), "X-Webhook-Hmac-Algorithm": "sha512"}


def evolution_headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def meta_headers(app_secret: str, body: bytes) -> dict[str, str]:
    return {"X-Hub-Signature-256": "sha256=" + _hex(app_secret, "sha256", body)}


def twilio_headers(auth_token: str, url: str, form: list[tuple[str, str]]) -> dict[str, str]:
    """Twilio signs the URL it called with the form's fields, not the body's bytes."""
    return {"X-Twilio-Signature": twilio_signature(auth_token, url, form)}


def _hex(secret: str, digest: str, message: bytes) -> str:
    return hmac.new(secret.encode(), message, digest).hexdigest()

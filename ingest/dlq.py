"""Dead letters of ``ingest-dlq``: what was received, minus credentials, and why it was refused."""

from __future__ import annotations

import base64
from collections.abc import Iterable
from datetime import datetime

from contract.events import IngestDeadLetter

# Headers that authenticate the sender; a dead letter must not become a credential store.
SECRET_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        "x-hmac-signature",
        "x-webhook-hmac",
        "x-hub-signature",
        "x-hub-signature-256",
        "x-twilio-signature",
        "apikey",
        "x-api-key",
    }
)


def safe_headers(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    """The request's headers without credentials (names lower-cased, repeats joined)."""
    kept: dict[str, str] = {}
    for name, value in headers:
        lowered = name.lower()
        if lowered in SECRET_HEADERS:
            continue
        kept[lowered] = f"{kept[lowered]}, {value}" if lowered in kept else value
    return kept


def dead_letter(
    endpoint: str,
    reason: str,
    field: str,
    status: int,
    body: bytes,
    headers: Iterable[tuple[str, str]],
    received_at: datetime,
) -> IngestDeadLetter:
    return IngestDeadLetter(
        endpoint=endpoint,
        reason=reason,
        field=field,
        status=status,
        received_at=received_at,
        body_base64=base64.b64encode(body).decode(),
        headers=safe_headers(headers),
    )

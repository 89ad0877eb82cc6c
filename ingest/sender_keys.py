"""Sender keys: bearer tokens of ``/v1/*`` that write for one workspace only (docs/ingest.md,
"Sender keys").

A key reads ``tsk_<key id>_<secret>``. The id names the key's record on ``sender-keys``; the
secret is 256 random bits, so its plain SHA-256 is what the record keeps (a slow password hash
protects guessable secrets, and these are not guessable).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime

from contract.events import SenderKey

PREFIX = "tsk_"


def is_sender_key(token: str) -> bool:
    return token.startswith(PREFIX)


def issue(workspace_id: str, now: datetime) -> tuple[str, SenderKey]:
    """A new key for ``workspace_id``: the token (shown once) and the record to publish."""
    key_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    record = SenderKey(
        key_id=key_id, workspace_id=workspace_id, secret_sha256=_sha256(secret), issued_at=now
    )
    return f"{PREFIX}{key_id}_{secret}", record


def revocation(key_id: str, now: datetime) -> SenderKey:
    return SenderKey(key_id=key_id, revoked_at=now)


def key_id_of(token: str) -> str:
    """The id part of a sender key ("" when the token is not one)."""
    key_id, _, secret = token.removeprefix(PREFIX).partition("_")
    return key_id if is_sender_key(token) and secret else ""


def matches(token: str, record: SenderKey) -> bool:
    """Whether ``token`` holds the secret ``record`` was issued for (compared in constant time)."""
    _, _, secret = token.removeprefix(PREFIX).partition("_")
    return hmac.compare_digest(_sha256(secret).encode(), record.secret_sha256.encode())


def _sha256(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()

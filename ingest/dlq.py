"""Dead letters of ``ingest-dlq``: what was received, minus credentials, and why it was refused.

A dead letter is one Kafka record, so it is bounded like every record (``ingest/limits.py``):
the reason and field are cut, the headers kept within ``MAX_HEADER_CHARS``, and the body cut to
what room is left, its full length kept in ``body_size`` (docs/ingest.md, "Hardening").
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from datetime import datetime

import msgspec

from contract.events import IngestDeadLetter, encode
from ingest.limits import MAX_REASON_CHARS, MAX_RECORD_BYTES, clip

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
# aiohttp takes up to 128 headers of 8 KiB each; a dead letter keeps them, names and values
# together, within this many characters
MAX_HEADER_CHARS = 16_384


def readable(text: str) -> str:
    """``text`` with the bytes that were not UTF-8 written as ``\\xff``.

    aiohttp keeps such bytes of a header as surrogate escapes, which no encoder takes.
    """
    if text.isascii():
        return text
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def safe_headers(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    """The request's headers without credentials (names lower-cased, repeats joined); a header
    that would take the kept ones beyond ``MAX_HEADER_CHARS`` is left out."""
    kept: dict[str, str] = {}
    room = MAX_HEADER_CHARS
    for name, raw_value in headers:
        lowered = readable(name).lower()
        if lowered in SECRET_HEADERS:
            continue
        value = readable(raw_value)
        if len(lowered) + len(value) > room:
            continue
        room -= len(lowered) + len(value)
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
    """The dead letter of a refused body, its encoding at most ``MAX_RECORD_BYTES`` long."""
    letter = IngestDeadLetter(
        endpoint=endpoint,
        reason=clip(reason, MAX_REASON_CHARS),
        field=clip(field, MAX_REASON_CHARS),
        status=status,
        received_at=received_at,
        body_base64="",
        headers=safe_headers(headers),
        body_size=len(body),
    )
    # base64 is plain ASCII: the encoding grows by exactly its length, 4 bytes per 3 of the body
    room = MAX_RECORD_BYTES - len(encode(letter))
    kept = body[: room // 4 * 3]
    return msgspec.structs.replace(letter, body_base64=base64.b64encode(kept).decode())

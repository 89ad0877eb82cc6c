"""Reading a body of the whatsapp-web.js Node service as it streams in.

The service posts every event it has to one URL, among them received messages with their media
inlined as base64: several megabytes that tickstream has no use for. The event's name comes first
in the body (the service serialises ``{"event": ..., "data": ...}`` in that order), so the first
bytes tell whether the rest matters. An ack is kept and parsed, within ``MAX_BODY_BYTES``; any
other event is only fed through the signature, chunk by chunk, and dropped, within
``WEBJS_MAX_IGNORED_BODY_BYTES`` (docs/ingest.md).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterable
from dataclasses import dataclass

from aiohttp import web

from ingest.auth import WebjsSignature
from ingest.providers.webjs import ACK_EVENTS

# Enough for the opening brace, the key and any event name of the service.
SNIFF_BYTES = 256
# `{"event":"name"` at the very start; a name with an escape in it is not recognised here, and
# the body is then read whole and parsed like any other.
_LEADING_EVENT = re.compile(rb'\A\s*\{\s*"event"\s*:\s*"([A-Za-z0-9_.:-]{1,64})"')


@dataclass(frozen=True, slots=True)
class WebjsBody:
    """The body when it must be parsed; otherwise the name of the event that was dropped."""

    raw: bytes = b""
    ignored_event: str = ""


def ignorable_event(head: bytes) -> str | None:
    """The name of the event that is not an ack a body starting with ``head`` opens with; ""
    when the body must be read and parsed; None while ``head`` is too short to tell."""
    found = _LEADING_EVENT.match(head)
    if found is not None:
        name = found.group(1).decode()
        return "" if name in ACK_EVENTS else name
    return None if len(head) < SNIFF_BYTES else ""


async def read_webjs_body(
    chunks: AsyncIterable[bytes], signature: WebjsSignature, limit: int, ignored_limit: int
) -> WebjsBody:
    """Feed every chunk to ``signature``; keep the body only when it must be parsed.

    Past ``limit`` (kept) or ``ignored_limit`` (dropped) bytes the request is refused with 413
    without reading further.
    """
    kept = bytearray()
    verdict: str | None = None
    size = 0
    async for chunk in chunks:
        signature.update(chunk)
        size += len(chunk)
        if not verdict:
            kept += chunk
        if verdict is None:
            verdict = ignorable_event(bytes(kept[:SNIFF_BYTES]))
            if verdict:
                kept = bytearray()
        bound = ignored_limit if verdict else limit
        if size > bound:
            raise web.HTTPRequestEntityTooLarge(max_size=bound, actual_size=size)
    if verdict:
        return WebjsBody(ignored_event=verdict)
    return WebjsBody(raw=bytes(kept))

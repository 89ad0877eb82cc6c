"""One webhook request: its headers, signed as the whatsapp-web.js Node service signs
(``contract/signing.py``), the POST, and what its answer means (docs/webhooks.md, "Requests").
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

import aiohttp

from contract.signing import webjs_headers

USER_AGENT = "tickstream-webhooks"
EVENT_HEADER = "X-Tickstream-Event"
EVENT_ID_HEADER = "X-Tickstream-Event-Id"
# enough of a refusal's body to say why in last_error; the rest is not read
ERROR_BODY_CHARS = 200
# printable ASCII but "%": what a header value may carry as it is
_HEADER_SAFE = "".join(chr(code) for code in range(0x20, 0x7F) if chr(code) != "%")


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one try came to: delivered (a 2xx), or why not (``status`` None: no answer)."""

    delivered: bool
    status: int | None = None
    error: str = ""


def header_value(text: str) -> str:
    """``text`` as a header can carry it: percent-encoded (UTF-8) where it holds a character
    outside printable ASCII, or ``%`` itself; a campaign id is the sender's and may hold any."""
    return quote(text, safe=_HEADER_SAFE)


def request_headers(
    secret: str, event_type: str, event_id: str, body: bytes, now: float
) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        EVENT_HEADER: event_type,
        EVENT_ID_HEADER: header_value(event_id),
        **webjs_headers(secret, body, now),
    }


def answered(status: int, reason: str, body: str) -> Outcome:
    """2xx is delivered; any other answer, a redirect included, is a failure to retry."""
    if 200 <= status < 300:
        return Outcome(True, status)
    excerpt = " ".join(body[:ERROR_BODY_CHARS].replace("\x00", "").split())
    return Outcome(False, status, f"HTTP {status} {reason}: {excerpt}".rstrip(": "))


async def post(
    session: aiohttp.ClientSession,
    url: str,
    headers: dict[str, str],
    body: bytes,
    timeout_seconds: float,
) -> Outcome:
    """POST ``body``; never raises for what the receiver or the network does."""
    try:
        async with session.post(
            url,
            data=body,
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=timeout_seconds),
            allow_redirects=False,
        ) as response:
            text = ""
            if not 200 <= response.status < 300:
                raw = await response.content.read(4 * ERROR_BODY_CHARS)
                text = raw.decode("utf-8", "replace")
            return answered(response.status, response.reason or "", text)
    except TimeoutError:
        return Outcome(False, None, f"no answer within {timeout_seconds:g} s")
    except aiohttp.ClientError as exc:
        return Outcome(False, None, f"{type(exc).__name__}: {exc}".replace("\x00", ""))

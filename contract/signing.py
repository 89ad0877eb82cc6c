"""The whatsapp-web.js Node service's signature: hex HMAC-SHA256(secret, X-Timestamp + raw body).

One scheme, three users: ingest checks it on the Node service's webhooks (docs/ingest.md), the
simulator signs with it as the Node service does, and tickstream's own outbound webhooks are
signed with it (docs/webhooks.md), so that a Laravel app that already verifies the Node service
verifies tickstream with the same code.
"""

from __future__ import annotations

import hmac

TIMESTAMP_HEADER = "X-Timestamp"
SIGNATURE_HEADER = "X-HMAC-Signature"


def webjs_mac(secret: str, timestamp: str) -> hmac.HMAC:
    """The HMAC with the timestamp already in it; the caller feeds it the raw body (at once, or
    chunk by chunk as it arrives) and reads ``hexdigest()``."""
    return hmac.new(secret.encode(), timestamp.encode(), "sha256")


def webjs_headers(secret: str, body: bytes, now: float) -> dict[str, str]:
    """The two headers of a body signed at ``now`` (unix seconds): the time is signed with the
    body so that a receiver can refuse a replay."""
    stamp = str(int(now))
    mac = webjs_mac(secret, stamp)
    mac.update(body)
    return {TIMESTAMP_HEADER: stamp, SIGNATURE_HEADER: mac.hexdigest()}

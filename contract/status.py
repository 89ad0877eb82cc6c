"""Status semantics (docs/contract.md): ranks, the failed flag, effective status, and each
provider's vocabulary mapped onto them. Pure functions, no I/O.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final, Literal

StatusName = Literal["pending", "sent", "delivered", "read", "played", "failed"]
EffectiveStatus = Literal["pending", "sent", "delivered", "read", "played", "failed"]

PENDING: Final = 0
SENT: Final = 1
DELIVERED: Final = 2
READ: Final = 3
PLAYED: Final = 4

RANK_OF: Final[dict[str, int]] = {
    "pending": PENDING,
    "sent": SENT,
    "delivered": DELIVERED,
    "read": READ,
    "played": PLAYED,
}
NAME_OF_RANK: Final[tuple[str, ...]] = ("pending", "sent", "delivered", "read", "played")
STATUSES: Final[tuple[StatusName, ...]] = (
    "pending",
    "sent",
    "delivered",
    "read",
    "played",
    "failed",
)


def effective_status(max_rank: int, failed: bool) -> EffectiveStatus:
    """Proof of delivery beats a failure report; a failure beats a mere server ack."""
    if max_rank >= DELIVERED:
        return NAME_OF_RANK[max_rank]  # type: ignore[return-value]
    if failed:
        return "failed"
    return "sent" if max_rank == SENT else "pending"


# --------------------------------------------------------------------------- providers

# whatsapp-web.js MessageAck (also WAHA's `ack` field): ERROR -1 … PLAYED 4.
WEBJS_ACK: Final[dict[int, StatusName]] = {
    -1: "failed",
    0: "pending",
    1: "sent",
    2: "delivered",
    3: "read",
    4: "played",
}

# The names of those levels, as WAHA's `ackName` carries them next to `ack`.
WEBJS_ACK_NAME: Final[dict[str, StatusName]] = {
    "ERROR": "failed",
    "PENDING": "pending",
    "SERVER": "sent",
    "DEVICE": "delivered",
    "READ": "read",
    "PLAYED": "played",
}

# The original app's Node service sends `status` shifted by one next to `ack_level`
# (1→"pending", 2→"sent", 3→"delivered", 4→"read"). Without `ack_level`, its strings mean:
WEBJS_SHIFTED_STATUS: Final[dict[str, StatusName]] = {
    "pending": "sent",
    "sent": "delivered",
    "delivered": "read",
    "read": "played",
    "error": "failed",
    "failed": "failed",
}

EVOLUTION_STATUS: Final[dict[str, StatusName]] = {
    "PENDING": "pending",
    "SERVER_ACK": "sent",
    "SENT": "sent",
    "DELIVERY_ACK": "delivered",
    "DELIVERED": "delivered",
    "READ": "read",
    "PLAYED": "played",
    "ERROR": "failed",
    "FAILED": "failed",
}
# Evolution reports deletions through the same event; they say nothing about delivery.
EVOLUTION_IGNORED: Final[frozenset[str]] = frozenset({"DELETED"})

META_STATUS: Final[dict[str, StatusName]] = {
    "sent": "sent",
    "delivered": "delivered",
    "read": "read",
    "played": "played",
    "failed": "failed",
}

TWILIO_STATUS: Final[dict[str, StatusName]] = {
    "queued": "pending",
    "accepted": "pending",
    "sending": "pending",
    "scheduled": "pending",
    "sent": "sent",
    "delivered": "delivered",
    "read": "read",
    "failed": "failed",
    "undelivered": "failed",
}


class UnknownStatus(ValueError):
    """A provider status outside its documented vocabulary; the message names the value."""


def _lookup(table: dict[str, StatusName], value: str, provider: str) -> StatusName:
    try:
        return table[value]
    except KeyError:
        raise UnknownStatus(f"unknown {provider} status {value!r}") from None


def webjs_ack_status(ack: int) -> StatusName:
    try:
        return WEBJS_ACK[ack]
    except KeyError:
        raise UnknownStatus(f"unknown whatsapp-web.js ack level {ack!r}") from None


def webjs_ack_name_status(name: str) -> StatusName:
    """WAHA's ``ackName`` (``SERVER``, ``DEVICE``, …), used only when ``ack`` is absent."""
    return _lookup(WEBJS_ACK_NAME, name.upper(), "whatsapp-web.js ack name")


def webjs_shifted_status(status: str) -> StatusName:
    """The corrected meaning of the Node service's shifted ``status`` string."""
    return _lookup(WEBJS_SHIFTED_STATUS, status.lower(), "whatsapp-web.js")


def evolution_status(status: str) -> StatusName:
    return _lookup(EVOLUTION_STATUS, status.upper(), "Evolution")


def meta_status(status: str) -> StatusName:
    return _lookup(META_STATUS, status.lower(), "Meta")


def twilio_status(status: str) -> StatusName:
    return _lookup(TWILIO_STATUS, status.lower(), "Twilio")


def earliest(current: datetime | None, candidate: datetime | None) -> datetime | None:
    """The earlier of two optional times: how first-seen times join, in the worker's state and in
    the sink's rows alike (docs/contract.md)."""
    if current is None:
        return candidate
    if candidate is None:
        return current
    return min(current, candidate)

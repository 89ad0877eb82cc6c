"""Which token stands behind each socket, so that a socket ends when its token does.

A ``/ws`` socket is opened with a workspace token. A Pusher socket carries none, but a private
channel it subscribes to may have been signed by the gateway's ``/broadcasting/auth`` for a
token: that signature is remembered for a short while (:meth:`SocketGrants.signed`) and, when the
socket subscribes with it, the token is bound to the socket too. :meth:`SocketGrants.lapsed`
names the sockets whose token expired or was revoked; the gateway closes them
(docs/gateway.md, "Hardening").
"""

from __future__ import annotations

import time
from collections.abc import Container

from gateway.auth import Grant
from gateway.fanout import Subscriber

# pusher-js subscribes right after its auth request returns; a signature unused for this long is
# forgotten (the subscription is then not tied to the token, like one Laravel signed).
SIGNATURE_MEMORY_SECONDS = 60.0


class SocketGrants:
    def __init__(self) -> None:
        self._held: dict[Subscriber, list[Grant]] = {}
        self._signed: dict[tuple[str, str], tuple[Grant, float]] = {}

    def bind(self, sub: Subscriber, grant: Grant) -> None:
        self._held.setdefault(sub, []).append(grant)

    def forget(self, sub: Subscriber) -> None:
        self._held.pop(sub, None)

    def signed(self, socket_id: str, channel: str, grant: Grant, now: float | None = None) -> None:
        """The gateway signed ``channel`` for Pusher socket ``socket_id`` on ``grant``'s behalf."""
        at = time.time() if now is None else now
        self._signed = {
            key: held
            for key, held in self._signed.items()
            if held[1] > at - SIGNATURE_MEMORY_SECONDS
        }
        self._signed[(socket_id, channel)] = (grant, at)

    def claim(self, socket_id: str, channel: str) -> Grant | None:
        """The grant behind the gateway's signature of ``channel`` for ``socket_id``, if any."""
        held = self._signed.pop((socket_id, channel), None)
        return None if held is None else held[0]

    def lapsed(
        self, revoked: Container[str], now: float | None = None
    ) -> list[tuple[Subscriber, str]]:
        """Every socket holding an expired or revoked token, with the reason."""
        at = time.time() if now is None else now
        out = []
        for sub, grants in self._held.items():
            if any(g.kid in revoked for g in grants):
                out.append((sub, "token revoked"))
            elif any(g.expires <= at for g in grants):
                out.append((sub, "token expired"))
        return out

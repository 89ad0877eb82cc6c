"""Revoked workspace tokens: the key ids in ``revoked_tokens`` (``tickstream token --revoke``),
reloaded every ``GATEWAY_REVOCATION_REFRESH_SECONDS``, and the sockets they, or their expiry,
end.

Tokens are verified without state, so each gateway instance learns of a revocation only by
reading the table; the refresh interval bounds how long a revoked token still works (REST) and
how long a socket outlives its token (revoked or expired). A failed reload keeps the previous
list: the database being down must not end every open dashboard.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway import db
from gateway.auth import AuthError, Grant
from gateway.fanout import Protocol
from gateway.grants import SocketGrants

log = logging.getLogger(__name__)


class RevokedKeys:
    def __init__(self) -> None:
        self._kids: frozenset[str] = frozenset()

    def __contains__(self, kid: object) -> bool:
        return kid in self._kids

    async def reload(self, engine: AsyncEngine) -> None:
        self._kids = await db.revoked_kids(engine)

    def check(self, grant: Grant) -> Grant:
        """``grant`` unless its key id is revoked (:class:`AuthError`)."""
        if grant.kid in self._kids:
            raise AuthError("token revoked")
        return grant


async def end_lapsed_sockets(
    engine: AsyncEngine,
    revoked: RevokedKeys,
    grants: SocketGrants,
    every: float,
    close_codes: Mapping[Protocol, int],
) -> None:
    """Run until cancelled: reload the revoked keys and close the sockets whose token lapsed."""
    while True:
        await asyncio.sleep(every)
        try:
            await revoked.reload(engine)
        except (sa_exc.SQLAlchemyError, OSError) as exc:
            log.warning("revoked tokens not reloaded, keeping the last list: %s", exc)
        lapsed = grants.lapsed(revoked)
        for sub, _ in lapsed:
            grants.forget(sub)
        await asyncio.gather(
            *(sub.close(close_codes[sub.protocol], reason) for sub, reason in lapsed)
        )

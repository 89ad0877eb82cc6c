"""Workspace tokens and Pusher signatures: the two ways a client proves what it may see.

A workspace token is ``<payload>.<signature>``: the payload is base64url JSON
``{"w": workspace_id, "exp": unix_seconds, "kid": key_id}`` and the signature is base64url
HMAC-SHA256 of the payload text with ``TOKEN_SECRET``. It is verified without state (any gateway
instance verifies it) and scoped to exactly one workspace; its key id lets an operator revoke it
before it expires (docs/gateway.md, "Hardening").

Every credential is compared as bytes: a header or a JSON string may carry any code point,
including lone surrogates, and must be refused, never crash the comparison.

Pusher signatures follow the Pusher protocol so that the Laravel app's own ``/broadcasting/auth``
and its Pusher HTTP client work unchanged against the gateway.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass


class AuthError(Exception):
    """A credential is missing, malformed, forged, expired or revoked; the message says which."""


@dataclass(frozen=True, slots=True)
class Grant:
    """What a genuine token grants: one workspace until ``expires`` (unix seconds), unless its key
    id ``kid`` is revoked first."""

    workspace: str
    kid: str
    expires: float


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def as_bytes(text: str) -> bytes:
    """Any ``str`` as bytes: UTF-8, with lone surrogates (from undecodable input) passed through."""
    return text.encode("utf-8", "surrogatepass")


def _mac(secret: str, message: str) -> bytes:
    return hmac.new(as_bytes(secret), as_bytes(message), hashlib.sha256).digest()


def issue_token(secret: str, workspace_id: str, ttl_seconds: int, now: float | None = None) -> str:
    """A token that grants read access to ``workspace_id`` for ``ttl_seconds``, under a fresh key
    id (:func:`verify_token` reads it back, for revoking the token later)."""
    if not secret:
        raise AuthError("TOKEN_SECRET is empty: tokens cannot be signed")
    if not workspace_id:
        raise AuthError("workspace id is empty")
    issued = time.time() if now is None else now
    claims = {"w": str(workspace_id), "exp": int(issued + ttl_seconds), "kid": secrets.token_hex(8)}
    payload = _b64encode(json.dumps(claims, sort_keys=True).encode())
    return f"{payload}.{_b64encode(_mac(secret, payload))}"


def verify_token(secret: str, token: str, now: float | None = None) -> Grant:
    """What a genuine, unexpired token grants; :class:`AuthError` otherwise. Whether its key id
    was revoked is the caller's question (the list lives in the database)."""
    if not secret:
        raise AuthError("TOKEN_SECRET is not set: the gateway accepts no token")
    payload, sep, signature = token.strip().partition(".")
    if not sep or not payload or not signature or not token.isascii():
        raise AuthError("malformed token")
    try:
        given = _b64decode(signature)
    except (binascii.Error, ValueError) as exc:
        raise AuthError("malformed token") from exc
    if not hmac.compare_digest(given, _mac(secret, payload)):
        raise AuthError("invalid token signature")
    try:
        claims = json.loads(_b64decode(payload))
        grant = Grant(str(claims["w"]), str(claims["kid"]), int(claims["exp"]))
    except (binascii.Error, ValueError, KeyError, TypeError) as exc:
        # tokens issued before key ids existed land here too: they could never be revoked
        raise AuthError("malformed token (without a key id): issue a new one") from exc
    if (time.time() if now is None else now) >= grant.expires:
        raise AuthError("token expired")
    return grant


def bearer_token(
    headers: Mapping[str, str], query: Mapping[str, str], *, query_allowed: bool = False
) -> str:
    """The token of a request: ``Authorization: Bearer``, else ``?token=`` where ``query_allowed``
    (browsers cannot set headers on a WebSocket or a download link; anywhere else a token in the
    URL would only leak into histories and logs)."""
    header = headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    token = query.get("token", "") if query_allowed else ""
    if token:
        return token
    if query_allowed:
        raise AuthError("no token: send Authorization: Bearer <token> or ?token=<token>")
    raise AuthError("no token: send Authorization: Bearer <token>")


# --------------------------------------------------------------------------- Pusher


def pusher_channel_signature(
    key: str, secret: str, socket_id: str, channel: str, channel_data: str | None = None
) -> str:
    """``key:hex(HMAC-SHA256(secret, socket_id:channel[:channel_data]))``, the ``auth`` value."""
    message = f"{socket_id}:{channel}" + (f":{channel_data}" if channel_data else "")
    digest = hmac.new(as_bytes(secret), as_bytes(message), hashlib.sha256).hexdigest()
    return f"{key}:{digest}"


def check_pusher_channel_auth(
    key: str, secret: str, socket_id: str, channel: str, auth: str
) -> None:
    """Accept a private-channel subscription only with the signature the app secret gives."""
    if not secret:
        raise AuthError("PUSHER_APP_SECRET is not set: private channels are refused")
    expected = pusher_channel_signature(key, secret, socket_id, channel)
    if not hmac.compare_digest(as_bytes(expected), as_bytes(auth)):
        raise AuthError(f"invalid signature for channel {channel}")


def pusher_api_signature(secret: str, method: str, path: str, params: Mapping[str, str]) -> str:
    """Signature of a Pusher HTTP API request: HMAC-SHA256 of ``METHOD\\npath\\nsorted query``."""
    query = "&".join(
        f"{k.lower()}={params[k]}" for k in sorted(params, key=str.lower) if k != "auth_signature"
    )
    message = f"{method.upper()}\n{path}\n{query}"
    return hmac.new(as_bytes(secret), as_bytes(message), hashlib.sha256).hexdigest()


def check_pusher_api_request(
    key: str,
    secret: str,
    method: str,
    path: str,
    params: Mapping[str, str],
    body: bytes,
    now: float | None = None,
    max_skew: float = 600.0,
) -> None:
    """Accept a Pusher HTTP API call only if signed by the app secret, recent, body intact."""
    if not secret:
        raise AuthError("PUSHER_APP_SECRET is not set: the HTTP API is refused")
    if params.get("auth_key") != key:
        raise AuthError("unknown auth_key")
    if params.get("auth_version") != "1.0":
        raise AuthError("auth_version must be 1.0")
    try:
        stamp = int(params.get("auth_timestamp", ""))
    except ValueError as exc:
        raise AuthError("auth_timestamp missing or not an integer") from exc
    if abs((time.time() if now is None else now) - stamp) > max_skew:
        raise AuthError("auth_timestamp too far from the server's clock")
    if body and params.get("body_md5") != hashlib.md5(body).hexdigest():
        raise AuthError("body_md5 does not match the body")
    expected = pusher_api_signature(secret, method, path, params)
    given = as_bytes(params.get("auth_signature", ""))
    if not hmac.compare_digest(as_bytes(expected), given):
        raise AuthError("invalid auth_signature")

"""Workspace tokens and Pusher signatures: the two ways a client proves what it may see.

A workspace token is ``<payload>.<signature>``: the payload is base64url JSON
``{"w": workspace_id, "exp": unix_seconds}`` and the signature is base64url HMAC-SHA256 of the
payload text with ``TOKEN_SECRET``. It is stateless (any gateway instance verifies it) and scoped to
exactly one workspace, so a leaked dashboard link exposes one workspace until it expires.

Pusher signatures follow the Pusher protocol so that the Laravel app's own ``/broadcasting/auth``
and its Pusher HTTP client work unchanged against the gateway.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Mapping


class AuthError(Exception):
    """A credential is missing, malformed, forged or expired; the message says which."""


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: str, message: str) -> bytes:
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).digest()


def issue_token(secret: str, workspace_id: str, ttl_seconds: int, now: float | None = None) -> str:
    """A token that grants read access to ``workspace_id`` for ``ttl_seconds``."""
    if not secret:
        raise AuthError("TOKEN_SECRET is empty: tokens cannot be signed")
    if not workspace_id:
        raise AuthError("workspace id is empty")
    issued = time.time() if now is None else now
    body = json.dumps({"w": str(workspace_id), "exp": int(issued + ttl_seconds)}, sort_keys=True)
    payload = _b64encode(body.encode())
    return f"{payload}.{_b64encode(_mac(secret, payload))}"


def verify_token(secret: str, token: str, now: float | None = None) -> str:
    """The workspace id a genuine, unexpired token grants; :class:`AuthError` otherwise."""
    if not secret:
        raise AuthError("TOKEN_SECRET is not set: the gateway accepts no token")
    payload, sep, signature = token.strip().partition(".")
    if not sep or not payload or not signature:
        raise AuthError("malformed token")
    try:
        given = _b64decode(signature)
    except (binascii.Error, ValueError) as exc:
        raise AuthError("malformed token") from exc
    if not hmac.compare_digest(given, _mac(secret, payload)):
        raise AuthError("invalid token signature")
    try:
        claims = json.loads(_b64decode(payload))
        workspace = str(claims["w"])
        expires = int(claims["exp"])
    except (binascii.Error, ValueError, KeyError, TypeError) as exc:
        raise AuthError("malformed token") from exc
    if (time.time() if now is None else now) >= expires:
        raise AuthError("token expired")
    return workspace


def bearer_token(headers: Mapping[str, str], query: Mapping[str, str]) -> str:
    """The token of a request: ``Authorization: Bearer`` first, else ``?token=`` (browsers cannot
    set headers on a WebSocket or a download link)."""
    header = headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    token = query.get("token", "")
    if token:
        return token
    raise AuthError("no token: send Authorization: Bearer <token> or ?token=<token>")


# --------------------------------------------------------------------------- Pusher


def pusher_channel_signature(
    key: str, secret: str, socket_id: str, channel: str, channel_data: str | None = None
) -> str:
    """``key:hex(HMAC-SHA256(secret, socket_id:channel[:channel_data]))``, the ``auth`` value."""
    message = f"{socket_id}:{channel}" + (f":{channel_data}" if channel_data else "")
    digest = hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()
    return f"{key}:{digest}"


def check_pusher_channel_auth(
    key: str, secret: str, socket_id: str, channel: str, auth: str
) -> None:
    """Accept a private-channel subscription only with the signature the app secret gives."""
    if not secret:
        raise AuthError("PUSHER_APP_SECRET is not set: private channels are refused")
    expected = pusher_channel_signature(key, secret, socket_id, channel)
    if not hmac.compare_digest(expected.encode(), auth.encode()):
        raise AuthError(f"invalid signature for channel {channel}")


def pusher_api_signature(secret: str, method: str, path: str, params: Mapping[str, str]) -> str:
    """Signature of a Pusher HTTP API request: HMAC-SHA256 of ``METHOD\\npath\\nsorted query``."""
    query = "&".join(
        f"{k.lower()}={params[k]}" for k in sorted(params, key=str.lower) if k != "auth_signature"
    )
    return hmac.new(
        secret.encode(), f"{method.upper()}\n{path}\n{query}".encode(), hashlib.sha256
    ).hexdigest()


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
    if not hmac.compare_digest(expected, params.get("auth_signature", "")):
        raise AuthError("invalid auth_signature")

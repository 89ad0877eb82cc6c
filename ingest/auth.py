"""Each provider's authentication scheme as a pure function of secret, headers and raw body.

Every check compares with :func:`hmac.compare_digest`, so the time taken says nothing about how
much of a forged signature was right. A check either returns or raises :class:`AuthError`; the
message says what was wrong without echoing any secret.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import math
from collections.abc import Mapping
from urllib.parse import parse_qsl

from contract.signing import webjs_mac

WEBJS_MAX_SKEW_SECONDS = 300.0
JWT_LEEWAY_SECONDS = 60.0


class AuthError(Exception):
    """The request is not from whom it claims to be: 401, never produced."""


class NotConfigured(Exception):
    """The secret this endpoint needs is not set: the endpoint refuses everything (403)."""

    def __init__(self, setting: str) -> None:
        super().__init__(f"{setting} is not set: this endpoint refuses every request")
        self.setting = setting


def _hex_hmac(secret: str, digest: str, message: bytes) -> str:
    # hmac.digest is OpenSSL's one-shot: ~1.5 µs less than hmac.new(...).hexdigest() a request
    return hmac.digest(secret.encode(), message, digest).hex()


def credential(headers: Mapping[str, str], name: str) -> str | None:
    """The header ``name`` (None when absent), refused unless it is UTF-8.

    aiohttp keeps the bytes of a header that is not UTF-8 as surrogate escapes, which
    ``str.encode`` refuses; no credential holds such bytes, so the request is unauthenticated
    (401), not a crash. Every credential header is read through here.
    """
    value = headers.get(name)
    if value is not None and not value.isascii():
        try:
            value.encode()
        except UnicodeEncodeError:
            raise AuthError(f"{name} header is not UTF-8") from None
    return value


def _same(expected: str, given: str) -> bool:
    return hmac.compare_digest(expected.encode(), given.strip().lower().encode())


def require(secret: str, setting: str) -> str:
    """The secret, or :class:`NotConfigured` naming the variable to set."""
    if not secret:
        raise NotConfigured(setting)
    return secret


def check_bearer(expected: str, headers: Mapping[str, str]) -> None:
    """``Authorization: Bearer <token>`` of ``/v1/*``."""
    token = bearer_token(headers)
    if not hmac.compare_digest(expected.encode(), token.encode()):
        raise AuthError("wrong bearer token")


def bearer_token(headers: Mapping[str, str]) -> str:
    authorization = credential(headers, "Authorization")
    if not authorization:
        raise AuthError("missing Authorization: Bearer header")
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthError("Authorization header is not a Bearer token")
    return token.strip()


def parse_timestamp(raw: str) -> float:
    """Unix seconds from ``X-Timestamp``; milliseconds (13 digits) are accepted too."""
    try:
        value = float(raw)
    except ValueError:
        raise AuthError("X-Timestamp is not a number") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise AuthError("X-Timestamp is not a number")
    return value / 1000.0 if value > 1e11 else value


class WebjsSignature:
    """hex HMAC-SHA256(secret, X-Timestamp + raw body), at most 300 s from our clock.

    Fed the body chunk by chunk as it arrives, so that a body of many megabytes (the Node
    service's media messages) is authenticated without ever being held whole. The headers and
    the clock are checked at once, before any of the body is read.
    """

    def __init__(self, secret: str, headers: Mapping[str, str], now: float) -> None:
        raw_ts = credential(headers, "X-Timestamp")
        signature = credential(headers, "X-HMAC-Signature")
        if not raw_ts or not signature:
            raise AuthError("missing X-Timestamp or X-HMAC-Signature header")
        if abs(now - parse_timestamp(raw_ts)) > WEBJS_MAX_SKEW_SECONDS:
            raise AuthError("X-Timestamp is more than 300 s away from the server's clock")
        self._mac = webjs_mac(secret, raw_ts)
        self._given = signature

    def update(self, chunk: bytes) -> None:
        self._mac.update(chunk)

    def verify(self) -> None:
        if not _same(self._mac.hexdigest(), self._given):
            raise AuthError("X-HMAC-Signature does not match")


def check_webjs(secret: str, headers: Mapping[str, str], body: bytes, now: float) -> None:
    """:class:`WebjsSignature` of a body held whole."""
    signature = WebjsSignature(secret, headers, now)
    signature.update(body)
    signature.verify()


def check_waha(secret: str, headers: Mapping[str, str], body: bytes) -> None:
    """hex HMAC-SHA512(key, raw body) in ``X-Webhook-Hmac``."""
    signature = credential(headers, "X-Webhook-Hmac")
    if not signature:
        raise AuthError("missing X-Webhook-Hmac header")
    algorithm = (credential(headers, "X-Webhook-Hmac-Algorithm") or "sha512").strip().lower()
    if algorithm != "sha512":
        raise AuthError(f"unsupported X-Webhook-Hmac-Algorithm {algorithm!r} (expected sha512)")
    if not _same(_hex_hmac(secret, "sha512", body), signature):
        raise AuthError("X-Webhook-Hmac does not match")


def check_meta(secret: str, headers: Mapping[str, str], body: bytes) -> None:
    """``X-Hub-Signature-256: sha256=<hex HMAC-SHA256(app secret, raw body)>``."""
    header = credential(headers, "X-Hub-Signature-256")
    if not header:
        raise AuthError("missing X-Hub-Signature-256 header")
    scheme, _, signature = header.partition("=")
    if scheme.strip().lower() != "sha256" or not signature:
        raise AuthError("X-Hub-Signature-256 is not of the form sha256=<hex>")
    if not _same(_hex_hmac(secret, "sha256", body), signature):
        raise AuthError("X-Hub-Signature-256 does not match")


def twilio_signature(token: str, url: str, params: list[tuple[str, str]]) -> str:
    """base64 HMAC-SHA1 over the URL followed by every form parameter, sorted, name+value."""
    message = url + "".join(name + value for name, value in sorted(params))
    digest = hmac.new(token.encode(), message.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def check_twilio(token: str, headers: Mapping[str, str], body: bytes, url: str) -> None:
    """``X-Twilio-Signature`` over ``PUBLIC_BASE_URL`` + path (+ query) and the form."""
    given = credential(headers, "X-Twilio-Signature")
    if not given:
        raise AuthError("missing X-Twilio-Signature header")
    params = parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True)
    expected = twilio_signature(token, url, params)
    if not hmac.compare_digest(expected.encode(), given.strip().encode()):
        raise AuthError("X-Twilio-Signature does not match")


def check_evolution(token: str, headers: Mapping[str, str], now: float) -> None:
    """``Authorization: Bearer <EVOLUTION_TOKEN>``, or a Bearer JWT (HS256) signed with it."""
    given = bearer_token(headers)
    if hmac.compare_digest(token.encode(), given.encode()):
        return
    if given.count(".") != 2:
        raise AuthError("Bearer token is neither EVOLUTION_TOKEN nor a JWT")
    check_hs256_jwt(token, given, now)


def _b64url(part: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    except (binascii.Error, ValueError):
        raise AuthError("JWT is not base64url") from None


def check_hs256_jwt(key: str, token: str, now: float) -> dict[str, object]:
    """Verify an HS256 JWT's signature, ``exp`` and ``nbf``; return its claims.

    ``exp`` is required: a token without one, leaked once, would open the endpoint forever.
    """
    header_b64, payload_b64, signature_b64 = token.split(".")
    try:
        header = json.loads(_b64url(header_b64))
        claims = json.loads(_b64url(payload_b64))
    except (ValueError, RecursionError):
        raise AuthError("JWT header or payload is not JSON") from None
    if not isinstance(header, dict) or header.get("alg") != "HS256":
        raise AuthError("JWT algorithm must be HS256")
    expected = hmac.new(key.encode(), f"{header_b64}.{payload_b64}".encode(), "sha256").digest()
    if not hmac.compare_digest(expected, _b64url(signature_b64)):
        raise AuthError("JWT signature does not match")
    if not isinstance(claims, dict):
        raise AuthError("JWT payload is not an object")
    exp, nbf = _time_claim(claims, "exp"), _time_claim(claims, "nbf")
    if exp is None:
        raise AuthError("JWT has no exp (expiry time)")
    if now > exp + JWT_LEEWAY_SECONDS:
        raise AuthError("JWT has expired")
    if nbf is not None and now < nbf - JWT_LEEWAY_SECONDS:
        raise AuthError("JWT is not valid yet")
    return claims


def _time_claim(claims: dict[str, object], name: str) -> float | None:
    """A NumericDate claim; None when absent. Python's JSON reader takes ``Infinity`` and
    ``NaN``, with which no comparison would ever say "expired": refused like any non-number."""
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise AuthError(f"JWT {name} is not a number")
    try:
        seconds = float(value)
    except OverflowError:  # an integer beyond any float
        seconds = math.inf
    if not math.isfinite(seconds):
        raise AuthError(f"JWT {name} is not a finite number")
    return seconds

"""Every provider's authentication: valid, wrong and missing signatures; skew; JWTs."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from urllib.parse import urlencode

import pytest
from multidict import CIMultiDict

from ingest import auth
from ingest.auth import AuthError

BODY = b'{"event":"message_read","data":{"message_id":"m1","recipient":"5511@c.us","timestamp":1}}'
NOW = 1_732_500_000.0


def _hex(secret: str, message: bytes, digest: str) -> str:
    return hmac.new(secret.encode(), message, digest).hexdigest()


# --------------------------------------------------------------------------- bearer


def _authorization(value: str | None) -> CIMultiDict[str]:
    return CIMultiDict() if value is None else CIMultiDict({"Authorization": value})


def test_bearer_token() -> None:
    auth.check_bearer("tok", _authorization("Bearer tok"))
    auth.check_bearer("tok", _authorization("bearer  tok "))
    for header in (None, "", "Bearer", "Basic dG9r", "Bearer tok2", "tok"):
        with pytest.raises(AuthError):
            auth.check_bearer("tok", _authorization(header))


# aiohttp keeps a header's bytes that are not UTF-8 as surrogate escapes: b"\xff" -> "\udcff"
NOT_UTF8 = b"\xff".decode("utf-8", "surrogateescape")


def test_a_credential_that_is_not_utf8_is_an_auth_error() -> None:
    stamp = str(int(NOW))
    checks = [
        lambda: auth.check_bearer("tok", _authorization(f"Bearer {NOT_UTF8}")),
        lambda: auth.bearer_token(_authorization(f"{NOT_UTF8} tok")),
        lambda: auth.check_webjs(
            "s", CIMultiDict({"X-Timestamp": stamp, "X-HMAC-Signature": NOT_UTF8}), BODY, NOW
        ),
        lambda: auth.check_waha("k", CIMultiDict({"X-Webhook-Hmac": NOT_UTF8}), BODY),
        lambda: auth.check_meta(
            "a", CIMultiDict({"X-Hub-Signature-256": f"sha256={NOT_UTF8}"}), BODY
        ),
        lambda: auth.check_twilio("t", CIMultiDict({"X-Twilio-Signature": NOT_UTF8}), b"", "u"),
        lambda: auth.check_evolution("e", _bearer(NOT_UTF8), NOW),
        lambda: auth.check_evolution("e", _bearer(f"{NOT_UTF8}.{NOT_UTF8}.{NOT_UTF8}"), NOW),
    ]
    for check in checks:
        with pytest.raises(AuthError):
            check()
    assert auth.credential(CIMultiDict({"X": "naïve"}), "X") == "naïve"  # UTF-8 text is text


def test_unset_secret_names_the_setting() -> None:
    with pytest.raises(auth.NotConfigured) as caught:
        auth.require("", "WAHA_HMAC_KEY")
    assert caught.value.setting == "WAHA_HMAC_KEY"
    assert "WAHA_HMAC_KEY" in str(caught.value)
    assert auth.require("k", "WAHA_HMAC_KEY") == "k"


# --------------------------------------------------------------------------- webjs


def _webjs(stamp: str, body: bytes = BODY, secret: str = "s") -> CIMultiDict[str]:
    return CIMultiDict(
        {"X-Timestamp": stamp, "X-HMAC-Signature": _hex(secret, stamp.encode() + body, "sha256")}
    )


def test_webjs_valid_signature_seconds_and_milliseconds() -> None:
    auth.check_webjs("s", _webjs(str(int(NOW))), BODY, NOW)
    auth.check_webjs("s", _webjs(str(int(NOW * 1000))), BODY, NOW)
    headers = _webjs(str(int(NOW)))
    headers["x-hmac-signature"] = headers["X-HMAC-Signature"].upper()  # hex case is free
    auth.check_webjs("s", headers, BODY, NOW)


@pytest.mark.parametrize("offset", [-300, 0, 300])
def test_webjs_skew_up_to_300_s_is_accepted(offset: int) -> None:
    auth.check_webjs("s", _webjs(str(int(NOW) + offset)), BODY, NOW)


@pytest.mark.parametrize("offset", [-301, 301, -86400])
def test_webjs_skew_beyond_300_s_is_refused(offset: int) -> None:
    with pytest.raises(AuthError, match="300 s"):
        auth.check_webjs("s", _webjs(str(int(NOW) + offset)), BODY, NOW)


def test_webjs_wrong_or_missing_signature() -> None:
    stamp = str(int(NOW))
    with pytest.raises(AuthError, match="does not match"):
        auth.check_webjs("other", _webjs(stamp), BODY, NOW)
    with pytest.raises(AuthError, match="does not match"):
        auth.check_webjs("s", _webjs(stamp), BODY + b" ", NOW)
    # the timestamp is signed too: replaying the body with a fresh timestamp fails
    replay = _webjs(stamp)
    replay["X-Timestamp"] = str(int(NOW) + 1)
    with pytest.raises(AuthError, match="does not match"):
        auth.check_webjs("s", replay, BODY, NOW)
    with pytest.raises(AuthError, match="missing"):
        auth.check_webjs("s", CIMultiDict({"X-Timestamp": stamp}), BODY, NOW)
    with pytest.raises(AuthError, match="not a number"):
        auth.check_webjs("s", _webjs("yesterday"), BODY, NOW)
    with pytest.raises(AuthError, match="not a number"):
        auth.check_webjs("s", _webjs("nan"), BODY, NOW)


# --------------------------------------------------------------------------- WAHA


def test_waha_hmac_sha512() -> None:
    good = CIMultiDict(
        {"X-Webhook-Hmac": _hex("k", BODY, "sha512"), "X-Webhook-Hmac-Algorithm": "sha512"}
    )
    auth.check_waha("k", good, BODY)
    auth.check_waha("k", CIMultiDict({"X-Webhook-Hmac": _hex("k", BODY, "sha512")}), BODY)
    with pytest.raises(AuthError, match="does not match"):
        auth.check_waha("other", good, BODY)
    with pytest.raises(AuthError, match="does not match"):
        auth.check_waha("k", good, BODY[:-1])
    with pytest.raises(AuthError, match="missing"):
        auth.check_waha("k", CIMultiDict(), BODY)
    sha256 = CIMultiDict(
        {"X-Webhook-Hmac": _hex("k", BODY, "sha256"), "X-Webhook-Hmac-Algorithm": "sha256"}
    )
    with pytest.raises(AuthError, match="sha512"):
        auth.check_waha("k", sha256, BODY)


# --------------------------------------------------------------------------- Meta


def test_meta_x_hub_signature_256() -> None:
    good = CIMultiDict({"X-Hub-Signature-256": "sha256=" + _hex("app", BODY, "sha256")})
    auth.check_meta("app", good, BODY)
    with pytest.raises(AuthError, match="does not match"):
        auth.check_meta("other", good, BODY)
    with pytest.raises(AuthError, match="missing"):
        auth.check_meta("app", CIMultiDict(), BODY)
    bare = CIMultiDict({"X-Hub-Signature-256": _hex("app", BODY, "sha256")})
    with pytest.raises(AuthError, match="sha256="):
        auth.check_meta("app", bare, BODY)
    sha1 = CIMultiDict({"X-Hub-Signature-256": "sha1=" + _hex("app", BODY, "sha1")})
    with pytest.raises(AuthError):
        auth.check_meta("app", sha1, BODY)


# --------------------------------------------------------------------------- Twilio


def test_twilio_signature_matches_twilios_published_example() -> None:
    # The worked example of Twilio's request-validation documentation (auth token 12345).
    params = {
        "CallSid": "CA1234567890ABCDE",
        "Caller": "+14158675309",
        "Digits": "1234",
        "From": "+14158675309",
        "To": "+18005551212",
    }
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    signature = "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    assert auth.twilio_signature("12345", url, list(params.items())) == signature
    body = urlencode(params).encode()
    auth.check_twilio("12345", CIMultiDict({"X-Twilio-Signature": signature}), body, url)
    with pytest.raises(AuthError, match="does not match"):
        auth.check_twilio("12345", CIMultiDict({"X-Twilio-Signature": signature}), body, url + "&x")
    tampered = body.replace(b"1234", b"9999", 1)
    with pytest.raises(AuthError, match="does not match"):
        auth.check_twilio("12345", CIMultiDict({"X-Twilio-Signature": signature}), tampered, url)
    with pytest.raises(AuthError, match="missing"):
        auth.check_twilio("12345", CIMultiDict(), body, url)


# --------------------------------------------------------------------------- Evolution


def _jwt(claims: dict[str, object], key: str, alg: str = "HS256") -> str:
    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    head = b64(json.dumps({"alg": alg, "typ": "JWT"}).encode())
    body = b64(json.dumps(claims).encode())
    signature = hmac.new(key.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64(signature)}"


def _bearer(token: str) -> CIMultiDict[str]:
    return CIMultiDict({"Authorization": f"Bearer {token}"})


def test_evolution_plain_token() -> None:
    auth.check_evolution("evo", _bearer("evo"), NOW)
    with pytest.raises(AuthError):
        auth.check_evolution("evo", _bearer("nope"), NOW)
    with pytest.raises(AuthError, match="missing"):
        auth.check_evolution("evo", CIMultiDict(), NOW)


def test_evolution_hs256_jwt_signed_with_the_token() -> None:
    claims = {"app": "evolution", "action": "webhook", "iat": NOW, "exp": NOW + 600}
    auth.check_evolution("evo", _bearer(_jwt(claims, "evo")), NOW)
    with pytest.raises(AuthError, match="no exp"):  # it would be good forever
        auth.check_evolution("evo", _bearer(_jwt({"app": "evolution"}, "evo")), NOW)
    for never in ("tomorrow", True, float("inf"), float("nan"), 10**400):
        with pytest.raises(AuthError, match="exp"):
            auth.check_evolution("evo", _bearer(_jwt({**claims, "exp": never}, "evo")), NOW)
    with pytest.raises(AuthError, match="signature"):
        auth.check_evolution("evo", _bearer(_jwt(claims, "other")), NOW)
    with pytest.raises(AuthError, match="expired"):
        auth.check_evolution("evo", _bearer(_jwt({**claims, "exp": NOW - 61}, "evo")), NOW)
    with pytest.raises(AuthError, match="not valid yet"):
        auth.check_evolution("evo", _bearer(_jwt({**claims, "nbf": NOW + 61}, "evo")), NOW)
    with pytest.raises(AuthError, match="HS256"):
        auth.check_evolution("evo", _bearer(_jwt(claims, "evo", alg="none")), NOW)
    with pytest.raises(AuthError):
        auth.check_evolution("evo", _bearer("a.b.c"), NOW)
    with pytest.raises(AuthError):
        auth.check_evolution("evo", _bearer("%%%.***.###"), NOW)


def test_signatures_use_a_constant_time_comparison(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every scheme goes through hmac.compare_digest (timing says nothing about the secret)."""
    calls: list[tuple[object, object]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(auth.hmac, "compare_digest", spy)
    checks = [
        lambda: auth.check_bearer("t", _authorization("Bearer x")),
        lambda: auth.check_webjs("s", _webjs(str(int(time.time())), secret="x"), BODY, time.time()),
        lambda: auth.check_waha("k", CIMultiDict({"X-Webhook-Hmac": "00"}), BODY),
        lambda: auth.check_meta("a", CIMultiDict({"X-Hub-Signature-256": "sha256=00"}), BODY),
        lambda: auth.check_twilio("t", CIMultiDict({"X-Twilio-Signature": "AA=="}), b"", "u"),
        lambda: auth.check_evolution("e", _bearer(_jwt({}, "x")), NOW),
    ]
    for check in checks:
        before = len(calls)
        with pytest.raises(AuthError):
            check()
        assert len(calls) > before

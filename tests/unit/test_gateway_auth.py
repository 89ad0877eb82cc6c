"""Workspace tokens and Pusher signatures (pure functions)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.auth import (
    AuthError,
    bearer_token,
    check_pusher_api_request,
    check_pusher_channel_auth,
    issue_token,
    pusher_api_signature,
    pusher_channel_signature,
    verify_token,
)


@given(st.text(min_size=1, max_size=40))
def test_a_token_grants_exactly_its_workspace(workspace: str) -> None:
    token = issue_token("s3cret", workspace, ttl_seconds=60)
    assert verify_token("s3cret", token).workspace == workspace


def test_every_token_has_its_own_key_id_and_old_tokens_without_one_are_refused() -> None:
    first, second = (issue_token("s3cret", "7", 60, now=1000.0) for _ in range(2))
    grants = [verify_token("s3cret", t, now=1000.0) for t in (first, second)]
    assert grants[0].kid != grants[1].kid and len(grants[0].kid) == 16
    assert grants[0].expires == 1060
    payload = base64.urlsafe_b64encode(b'{"exp": 99999, "w": "7"}').rstrip(b"=").decode()
    signature = base64.urlsafe_b64encode(
        hmac.new(b"s3cret", payload.encode(), hashlib.sha256).digest()
    )
    with pytest.raises(AuthError, match="key id"):
        verify_token("s3cret", f"{payload}.{signature.rstrip(b'=').decode()}", now=1000.0)


def test_undecodable_credentials_are_refused_not_crashed_on() -> None:
    for bad in ("\udcff", "abc.\udcff", "\udcff.abc", "é.é"):
        with pytest.raises(AuthError, match="malformed"):
            verify_token("s3cret", bad)
    with pytest.raises(AuthError):
        check_pusher_channel_auth("k", "s", "1.1", "private-\ud800", "k:\udcff")


def test_expired_forged_and_malformed_tokens_are_refused() -> None:
    token = issue_token("s3cret", "7", ttl_seconds=60, now=1000.0)
    assert verify_token("s3cret", token, now=1059.0).workspace == "7"
    with pytest.raises(AuthError, match="expired"):
        verify_token("s3cret", token, now=1060.0)
    with pytest.raises(AuthError, match="signature"):
        verify_token("other-secret", token, now=1000.0)
    payload, _, signature = token.partition(".")
    # a payload naming another workspace, with the old signature
    forged = json.dumps({"exp": 99999, "w": "8", "kid": "k"}).encode()
    forged_payload = base64.urlsafe_b64encode(forged).rstrip(b"=").decode()
    with pytest.raises(AuthError):
        verify_token("s3cret", f"{forged_payload}.{signature}", now=1000.0)
    for bad in ("", "abc", ".", "a.b", f"{payload}.!!!"):
        with pytest.raises(AuthError):
            verify_token("s3cret", bad, now=1000.0)
    with pytest.raises(AuthError):
        verify_token("", token)
    with pytest.raises(AuthError):
        issue_token("", "7", 60)


def test_bearer_header_first_then_query_only_where_allowed() -> None:
    assert bearer_token({"Authorization": "Bearer abc"}, {"token": "q"}) == "abc"
    assert bearer_token({"Authorization": "Basic abc"}, {"token": "q"}, query_allowed=True) == "q"
    with pytest.raises(AuthError, match="Bearer"):
        bearer_token({"Authorization": "Basic abc"}, {"token": "q"})
    with pytest.raises(AuthError):
        bearer_token({}, {}, query_allowed=True)


def test_channel_signature_matches_pushers_documented_example() -> None:
    # https://pusher.com/docs/channels/library_auth_reference/auth-signatures/
    auth = pusher_channel_signature(
        "278d425bdf160c739803", "7ad3773142a6692b25b8", "1234.1234", "private-foobar"
    )
    assert auth == (
        "278d425bdf160c739803:58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4"
    )
    check_pusher_channel_auth(
        "278d425bdf160c739803", "7ad3773142a6692b25b8", "1234.1234", "private-foobar", auth
    )
    with pytest.raises(AuthError):
        check_pusher_channel_auth(
            "278d425bdf160c739803", "7ad3773142a6692b25b8", "1234.1235", "private-foobar", auth
        )
    with pytest.raises(AuthError):
        check_pusher_channel_auth("k", "", "1.1", "private-x", auth)


def test_api_signature_matches_pushers_documented_example() -> None:
    # https://pusher.com/docs/channels/library_auth_reference/rest-api/#worked-authentication-example
    body = b'{"name":"foo","channels":["project-3"],"data":"{\\"some\\":\\"data\\"}"}'
    params = {
        "auth_key": "278d425bdf160c739803",
        "auth_timestamp": "1353088179",
        "auth_version": "1.0",
        "body_md5": hashlib.md5(body).hexdigest(),
    }
    assert params["body_md5"] == "ec365a775a4cd0599faeb73354201b6f"
    signature = pusher_api_signature("7ad3773142a6692b25b8", "POST", "/apps/3/events", params)
    assert signature == "da454824c97ba181a32ccc17a72625ba02771f50b50e1e7430e47a1f3f457e6c"
    signed = params | {"auth_signature": signature}
    key, secret, path = "278d425bdf160c739803", "7ad3773142a6692b25b8", "/apps/3/events"
    check_pusher_api_request(key, secret, "POST", path, signed, body, now=1353088179)
    for change, error in (
        ({"auth_signature": "0" * 64}, "auth_signature"),
        ({"auth_key": "other"}, "auth_key"),
        ({"auth_timestamp": "1353080000"}, "auth_timestamp"),
        ({"body_md5": "0" * 32}, "body_md5"),
    ):
        with pytest.raises(AuthError, match=error):
            check_pusher_api_request(
                key, secret, "POST", path, signed | change, body, now=1353088179
            )

"""The Node service's bodies read as they stream in: acks kept whole, every other event dropped
unread whatever its size, and the signature always over every byte, however the body is cut."""

from __future__ import annotations

import hmac
import json
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from hypothesis import given
from hypothesis import strategies as st

from ingest.auth import AuthError, WebjsSignature
from ingest.webjs_body import SNIFF_BYTES, ignorable_event, read_webjs_body

NOW = 1_732_500_000.0
STAMP = str(int(NOW))
ACK = json.dumps(
    {"event": "message_read", "data": {"message_id": "m1", "recipient": "5511@c.us"}},
    separators=(",", ":"),
).encode()


def _media(size: int) -> bytes:
    """``message_received`` with a media message inlined, as the Node service posts it."""
    data = {"workspace_id": 1, "message": {"id": "x", "media": {"data": "A" * size}}}
    return json.dumps({"event": "message_received", "data": data}, separators=(",", ":")).encode()


def _signature(body: bytes, secret: str = "s") -> WebjsSignature:
    sent = hmac.new(secret.encode(), STAMP.encode() + body, "sha256").hexdigest()
    return WebjsSignature("s", {"X-Timestamp": STAMP, "X-HMAC-Signature": sent}, NOW)


async def _chunks(body: bytes, cuts: list[int]) -> AsyncIterator[bytes]:
    start = 0
    for cut in sorted({min(c, len(body)) for c in cuts}):
        yield body[start:cut]
        start = cut
    yield body[start:]


@pytest.mark.parametrize(
    ("head", "verdict"),
    [
        (
            b'{"event":"qr_code_generated","data":{"qr_code":"data:image/png;base64,',
            "qr_code_generated",
        ),
        (b' { "event" : "typing_indicator" ', "typing_indicator"),
        (b'{"event":"message_status_updated","data":{}}', ""),
        (b'{"event":"message_ack","data":{}}', ""),
        (b'{"message":{"id":{"_serialized":"x"}},"ack":3}', None),  # short: undecided
        (b'{"data":{},"event":"qr"}' + b" " * SNIFF_BYTES, ""),  # not first: parsed
        (b'{"event":"message_re\\u0061d"' + b" " * SNIFF_BYTES, ""),  # escaped: parsed
        (b'{"event":"mess', None),
    ],
)
def test_the_first_bytes_tell_an_ack_from_the_rest(head: bytes, verdict: str | None) -> None:
    assert ignorable_event(head) == verdict


async def test_an_ack_is_kept_whole() -> None:
    signature = _signature(ACK)
    body = await read_webjs_body(_chunks(ACK, [3, 40]), signature, 1000, 10)
    assert (body.raw, body.ignored_event) == (ACK, "")
    signature.verify()


async def test_a_media_message_far_beyond_the_body_limit_is_dropped_unread() -> None:
    media = _media(5 * 1024 * 1024)
    signature = _signature(media)
    chunks = _chunks(media, list(range(0, len(media), 65536)))
    body = await read_webjs_body(chunks, signature, 1024, 64 * 1024 * 1024)
    assert (body.raw, body.ignored_event) == (b"", "message_received")
    signature.verify()


async def test_each_kind_has_its_own_bound() -> None:
    with pytest.raises(web.HTTPRequestEntityTooLarge):
        await read_webjs_body(_chunks(ACK, [10]), _signature(ACK), len(ACK) - 1, 10**9)
    media = _media(10_000)
    with pytest.raises(web.HTTPRequestEntityTooLarge):
        await read_webjs_body(_chunks(media, [500]), _signature(media), 10**9, 5_000)


async def test_a_dropped_body_is_still_authenticated() -> None:
    media = _media(100_000)
    forged = _signature(media.replace(b"AAAA", b"AAAB", 1))
    await read_webjs_body(_chunks(media, [100, 5000]), forged, 1024, 10**6)
    with pytest.raises(AuthError):
        forged.verify()


@given(
    body=st.sampled_from([ACK, _media(3000), b'{"message":{"id":{"_serialized":"x"}},"ack":3}']),
    cuts=st.lists(st.integers(min_value=0, max_value=4000), max_size=12),
)
async def test_any_cutting_gives_the_same_body_and_signature(body: bytes, cuts: list[int]) -> None:
    signature = _signature(body)
    read = await read_webjs_body(_chunks(body, cuts), signature, 10**6, 10**6)
    whole = await read_webjs_body(_chunks(body, []), _signature(body), 10**6, 10**6)
    assert read == whole
    signature.verify()

"""Every decoder of the contract turns any malformed record into one ``DecodeError``: consumers
skip or dead-letter on that alone, so an empty record or one nested deeper than the decoder can
follow must not escape as another exception and stop a consumer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from contract import events

DECODERS: list[Callable[[bytes | None], Any]] = [
    events.decode_event_batch,
    events.decode_campaign_event,
    events.decode_partial,
    events.decode_campaign_input,
    events.decode_ingest_dead_letter,
    events.decode_sender_key,
    events.decode_campaign_owner,
    events.decode_snapshot,
    events.decode_status_batch,
]
HOSTILE = [
    None,
    b"",
    b"[" * 100_000,
    b'{"events":' + b"[" * 100_000,
    b'{"x":' * 100_000,
    b"\xff\xfe",
    b"{}",
]


@pytest.mark.parametrize("decode", DECODERS)
@pytest.mark.parametrize("data", HOSTILE)
def test_malformed_records_raise_only_decode_error(
    decode: Callable[[bytes | None], Any], data: bytes | None
) -> None:
    with pytest.raises(events.DecodeError):
        decode(data)


@pytest.mark.parametrize("decode", DECODERS)
@given(st.binary(max_size=200))
def test_any_bytes_decode_or_raise_decode_error(
    decode: Callable[[bytes | None], Any], data: bytes
) -> None:
    try:
        decoded = decode(data)
    except events.DecodeError:
        return
    assert isinstance(decoded, msgspec.Struct)  # a record, never a half-decoded value

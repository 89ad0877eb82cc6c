"""contract/status.py against the status table of docs/contract.md: every provider value, the
effective status."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contract import status as s
from contract.status import UnknownStatus

# docs/contract.md's status table, row by row: canonical status -> each provider's values
TABLE: dict[str, dict[str, list[Any]]] = {
    "pending": {
        "webjs": [0],
        "evolution": ["PENDING"],
        "meta": [],
        "twilio": ["queued", "accepted", "sending"],
    },
    "sent": {
        "webjs": [1],
        "evolution": ["SERVER_ACK", "SENT"],
        "meta": ["sent"],
        "twilio": ["sent"],
    },
    "delivered": {
        "webjs": [2],
        "evolution": ["DELIVERY_ACK", "DELIVERED"],
        "meta": ["delivered"],
        "twilio": ["delivered"],
    },
    "read": {"webjs": [3], "evolution": ["READ"], "meta": ["read"], "twilio": ["read"]},
    "played": {"webjs": [4], "evolution": ["PLAYED"], "meta": ["played"], "twilio": []},
    "failed": {
        "webjs": [-1],
        "evolution": ["ERROR", "FAILED"],
        "meta": ["failed"],
        "twilio": ["failed", "undelivered"],
    },
}
CASES = [
    (mapper, value, canonical)
    for canonical, row in TABLE.items()
    for provider, mapper in (
        ("webjs", s.webjs_ack_status),
        ("evolution", s.evolution_status),
        ("meta", s.meta_status),
        ("twilio", s.twilio_status),
    )
    for value in row[provider]
]


@pytest.mark.parametrize(("mapper", "value", "canonical"), CASES)
def test_every_value_of_the_status_table(
    mapper: Callable[[Any], str], value: object, canonical: str
) -> None:
    assert mapper(value) == canonical


def test_string_vocabularies_ignore_case() -> None:
    assert s.evolution_status("delivery_ack") == "delivered"
    assert s.meta_status("READ") == "read"
    assert s.twilio_status("Undelivered") == "failed"
    assert s.webjs_ack_name_status("device") == "delivered"


def test_waha_ack_names_match_the_ack_levels() -> None:
    names = ["ERROR", "PENDING", "SERVER", "DEVICE", "READ", "PLAYED"]
    assert [s.webjs_ack_name_status(n) for n in names] == [
        s.webjs_ack_status(a) for a in range(-1, 5)
    ]


def test_shifted_strings_of_the_node_service_are_corrected() -> None:
    # the Node service wrote ack 1 as "pending", 2 as "sent", 3 "delivered", 4 "read"
    for ack, shifted in ((1, "pending"), (2, "sent"), (3, "delivered"), (4, "read")):
        assert s.webjs_shifted_status(shifted) == s.webjs_ack_status(ack)
    assert s.webjs_shifted_status("error") == "failed"


@pytest.mark.parametrize(
    ("mapper", "value"),
    [
        (s.webjs_ack_status, 5),
        (s.webjs_ack_status, -2),
        (s.webjs_shifted_status, "seen"),
        (s.evolution_status, "DELETED"),
        (s.evolution_status, "BOGUS"),
        (s.meta_status, "pending"),
        (s.twilio_status, "played"),
        (s.webjs_ack_name_status, "CLIENT"),
    ],
)
def test_values_outside_a_vocabulary_are_refused_by_name(mapper: object, value: object) -> None:
    with pytest.raises(UnknownStatus, match=repr(value)):
        mapper(value)  # type: ignore[operator]


def test_evolution_deleted_is_a_known_non_status() -> None:
    assert "DELETED" in s.EVOLUTION_IGNORED
    assert "DELETED" not in s.EVOLUTION_STATUS


@given(max_rank=st.integers(0, 4), failed=st.booleans())
def test_effective_status(max_rank: int, failed: bool) -> None:
    effective = s.effective_status(max_rank, failed)
    if max_rank >= s.DELIVERED:
        assert effective == s.NAME_OF_RANK[max_rank]  # proof of delivery beats a failure
    elif failed:
        assert effective == "failed"
    else:
        assert effective == ("sent" if max_rank == s.SENT else "pending")


def test_ranks_order_the_statuses() -> None:
    assert [s.RANK_OF[n] for n in ("pending", "sent", "delivered", "read", "played")] == [
        0,
        1,
        2,
        3,
        4,
    ]
    assert set(s.STATUSES) == set(TABLE)

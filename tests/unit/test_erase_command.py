"""The pure parts of ``tickstream erase``: which ids it erases, the records it sends, when it
calls the pipeline caught up and what it says about each topic; and that no sender can send an
erasure through ingest."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contract.events import Erase, MessageEvent, decode_event_batch
from contract.partitioning import partition_for
from ingest.payload import BadInput
from ingest.providers import api
from tickstream.erase import caught_up, duration, erase_records, retention_notice, targets_of

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
NUMBER = "+4915100"
DAY_MS = "86400000"
WEEK_MS = "604800000"


def test_targets_are_the_rows_and_the_skip_key_of_every_campaign() -> None:
    found = targets_of(["m2", "m1", f"skip:c1:{NUMBER}", "m1"], ["c2", "c1", "c2"], NUMBER)
    assert found.messages == ["m1", "m2"]
    assert found.skips == [f"skip:c1:{NUMBER}", f"skip:c2:{NUMBER}"]
    assert found.ids() == ["m1", "m2", f"skip:c1:{NUMBER}", f"skip:c2:{NUMBER}"]


@given(st.lists(st.text(min_size=1, max_size=40), max_size=300, unique=True), st.integers(1, 12))
def test_every_erase_goes_once_to_its_message_ids_partition(
    ids: list[str], partitions: int
) -> None:
    records = erase_records(ids, "w1", partitions, NOW)
    seen: list[str] = []
    for partition, items in records.items():
        for key, value in items:
            events = decode_event_batch(value).events
            assert key == events[0].message_id
            for event in events:
                assert isinstance(event, Erase)
                assert (event.workspace_id, event.received_at) == ("w1", NOW)
                assert partition_for(event.message_id, partitions) == partition
                seen.append(event.message_id)
    assert sorted(seen) == sorted(ids)


def test_caught_up_once_every_partition_committed_its_target() -> None:
    assert caught_up({0: 5, 1: 9}, {0: 5, 1: 8})
    assert not caught_up({0: 4, 1: 9}, {0: 5, 1: 8})
    assert not caught_up({0: -1001}, {0: 1})  # the group never committed there
    assert caught_up({}, {0: 0, 3: 0})  # nothing was ever written there
    assert not caught_up({}, {2: 1})


def test_durations_read_as_people_say_them() -> None:
    assert duration(WEEK_MS) == "7 d"
    assert duration("3600000") == "1 h"
    assert duration("5400000") == "1.5 h"
    assert duration("30000") == "30 s"
    assert duration("-1") == duration(str(2**63 - 1)) == "no limit"


def settings(policy: str, **changes: str) -> dict[str, str]:
    return {
        "cleanup.policy": policy,
        "retention.ms": WEEK_MS,
        "segment.ms": WEEK_MS,
        "delete.retention.ms": DAY_MS,
        "max.compaction.lag.ms": str(2**63 - 1),
        **changes,
    }


def test_a_deleted_topic_holds_it_for_a_segment_and_the_retention() -> None:
    notice = retention_notice("ack-events", "events", settings("delete"))
    assert notice == (
        "ack-events: events. Deleted segment.ms 7 d + retention.ms 7 d after it was written at "
        "the latest, if records keep coming (a segment rolls only when one arrives)."
    )
    forever = retention_notice("ack-events", "events", settings("delete", **{"retention.ms": "-1"}))
    assert "no limit" in forever


def test_a_compacted_topic_names_its_bound_and_its_tombstones() -> None:
    unbounded = retention_notice("changelog", "states", settings("compact"))
    assert "with no time bound (set max.compaction.lag.ms for one)" in unbounded
    assert "delete.retention.ms 1 d longer" in unbounded
    bounded = retention_notice(
        "changelog", "states", settings("compact", **{"max.compaction.lag.ms": DAY_MS})
    )
    assert "about max.compaction.lag.ms 1 d after they were written" in bounded


# /v1/events, /v1/dispatches and /v1/skips (ingest/handlers.py)
Parse = Callable[[bytes, datetime], Sequence[MessageEvent]]
ERASE = {"type": "erase", "message_id": "m1", "workspace_id": "w1", "received_at": NOW.isoformat()}


@pytest.mark.parametrize("parse", [api.parse_events, api.parse_dispatches, api.parse_skips])
@pytest.mark.parametrize(
    "body", [ERASE, [ERASE], {**ERASE, "status": "read"}, {**ERASE, "campaign_id": "c1"}]
)
def test_no_sender_can_send_an_erasure(parse: Parse, body: object) -> None:
    """Every body ingest reads is decoded into a sender's own type, never the event union: an
    erase record is refused, or read as the sender's event with its ``type`` ignored."""
    try:
        events = parse(json.dumps(body).encode(), NOW)
    except BadInput:
        return
    assert events and not any(isinstance(event, Erase) for event in events)

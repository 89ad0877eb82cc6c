"""Campaign insights and message labels through the real broker and sink into PostgreSQL
(docs/sink.md, docs/insights.md): stored exactly, never overwritten by an older snapshot, unchanged
by a replay. The status records are the worker's own (``streams.message_state``), so the labels
the sink keeps are checked against the worker's join, not against the sink's merge.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from contract.events import (
    AckEvent,
    Dispatch,
    MessageEvent,
    MessageStatus,
    MessageStatusBatch,
    encode,
)
from contract.settings import DatabaseSettings
from contract.status import StatusName
from contract.topics import Topics
from sink.migrate import upgrade
from sink.settings import SinkSettings
from streams.message_state import EMPTY, join, status_record
from tests.integration.test_sink_pipeline import (
    T0,
    dump,
    expected_statuses,
    insights_json,
    insights_of,
    produce_snapshots,
    produce_statuses,
    running_sink,
    snapshot,
    wait_caught_up,
)

pytestmark = pytest.mark.integration


def dispatch(message_id: str, template: str = "", variant: str = "", *tags: str) -> Dispatch:
    return Dispatch(
        message_id=message_id,
        campaign_id="c1",
        workspace_id="w1",
        recipient=f"+55{message_id}",
        received_at=T0,
        template=template,
        variant=variant,
        tags=list(tags),
    )


def ack(message_id: str, status: StatusName, second: int) -> AckEvent:
    return AckEvent(
        message_id=message_id, status=status, received_at=T0 + timedelta(seconds=second)
    )


# Per message, the events the worker joins, in order: labels from one dispatch, from two that
# disagree, none at all, and more tags than a message keeps.
HISTORIES: dict[str, list[MessageEvent]] = {
    "m1": [dispatch("m1", "welcome", "A", "vip"), ack("m1", "sent", 1), ack("m1", "read", 9)],
    "m2": [
        ack("m2", "sent", 1),  # before its dispatch: the worker emits nothing yet
        dispatch("m2", "promo", "", "q4"),
        ack("m2", "delivered", 2),
        dispatch("m2", "", "B", "b2b", "vip"),
    ],
    "m3": [dispatch("m3"), ack("m3", "sent", 1)],
    "m4": [
        dispatch("m4", "welcome", "", "c", "b", "a"),
        ack("m4", "failed", 3),
        dispatch("m4", "welcome", "", "f", "e", "d"),
    ],
}
EXPECTED_LABELS = {
    "m1": ("welcome", "A", ["vip"]),
    "m2": ("promo", "B", ["b2b", "q4", "vip"]),
    "m3": ("", "", []),
    "m4": ("welcome", "", ["a", "b", "c", "d", "e"]),
}


def worker_records(message_id: str, events: list[MessageEvent]) -> list[MessageStatus]:
    """The records the worker emits for a message: one after each event, once in a campaign."""
    state, records = EMPTY, []
    for n, event in enumerate(events):
        state = join(state, event)
        if state.campaign_id:
            records.append(status_record(message_id, state, T0 + timedelta(seconds=n)))
    return records


def labels(database_url: str) -> dict[str, tuple[str, str, list[str]]]:
    return {
        row["message_id"]: (row["template"], row["variant"], row["tags"])
        for row in dump(database_url)["message_status"]
    }


def campaigns_without_insights(database_url: str) -> list[str]:
    """Read in SQL: a SQL NULL, not a JSON ``null`` (both read as None in Python)."""
    engine = sa.create_engine(database_url)
    with engine.connect() as conn:
        query = "SELECT campaign_id FROM campaign_stats WHERE insights IS NULL ORDER BY 1"
        found = list(conn.execute(sa.text(query)).scalars())
    engine.dispose()
    return found


def produce_one_batch_each(
    settings: DatabaseSettings, topics: Topics, records: list[MessageStatus]
) -> None:
    values = [encode(MessageStatusBatch(statuses=[record])) for record in records]
    produce_statuses(settings.kafka_bootstrap, topics, values)


def test_insights_and_labels_land_exactly_and_a_replay_changes_nothing(
    settings: DatabaseSettings, topics: Topics, database_url: str, group_id: str
) -> None:
    upgrade(database_url)
    settings = SinkSettings.carrying(settings, sink_batch_records=2, sink_batch_ms=20)
    bootstrap = settings.kafka_bootstrap
    records = {m: worker_records(m, events) for m, events in HISTORIES.items()}
    first_half = [r for rs in records.values() for r in rs[: len(rs) // 2 + 1]]
    second_half = [r for rs in records.values() for r in rs[len(rs) // 2 + 1 :]]
    snapshots = [
        snapshot("c1", "w1", 1, window=1),  # no insights yet
        snapshot("c1", "w1", 2, window=2, insights=insights_of(2)),
        snapshot("c2", "w1", 1, window=1),  # a campaign that never has any
    ]
    with running_sink(settings, group_id):
        # the second half in later batches: PostgreSQL merges labels into stored ones
        produce_one_batch_each(settings, topics, first_half)
        produce_snapshots(bootstrap, topics, snapshots)
        wait_caught_up(bootstrap, group_id, topics)
        assert labels(database_url)["m2"] == ("promo", "", ["q4"])
        produce_one_batch_each(settings, topics, [*second_half, *first_half])
        produce_snapshots(
            bootstrap, topics, [snapshot("c1", "w1", 3, window=3, insights=insights_of(3))]
        )
        wait_caught_up(bootstrap, group_id, topics)
    first = dump(database_url)
    assert labels(database_url) == EXPECTED_LABELS
    all_records = [r for rs in records.values() for r in rs]
    assert first["message_status"] == expected_statuses(all_records)
    by_campaign = {row["campaign_id"]: row for row in first["campaign_stats"]}
    assert by_campaign["c1"]["seq"] == 3
    assert by_campaign["c1"]["insights"] == insights_json(insights_of(3))
    assert by_campaign["c1"]["snapshot"]["insights"] == by_campaign["c1"]["insights"]
    assert campaigns_without_insights(database_url) == ["c2"]

    # every record again, read by another group: not one row more, not one value changed
    with running_sink(settings, f"{group_id}-again"):
        wait_caught_up(bootstrap, f"{group_id}-again", topics)
    assert dump(database_url) == first


def test_an_older_snapshot_never_overwrites_newer_insights(
    settings: DatabaseSettings, topics: Topics, database_url: str, group_id: str
) -> None:
    upgrade(database_url)
    bootstrap = settings.kafka_bootstrap

    def stored() -> tuple[int, Any]:
        (row,) = dump(database_url)["campaign_stats"]
        return row["seq"], row["insights"]

    with running_sink(settings, group_id):
        produce_snapshots(bootstrap, topics, [snapshot("c1", "w1", 5, 5, insights=insights_of(5))])
        wait_caught_up(bootstrap, group_id, topics)
        # in a later batch: older snapshots, one with other insights, one with none
        produce_snapshots(
            bootstrap,
            topics,
            [snapshot("c1", "w1", 3, 3, insights=insights_of(3)), snapshot("c1", "w1", 4, 4)],
        )
        wait_caught_up(bootstrap, group_id, topics)
        assert stored() == (5, insights_json(insights_of(5)))
        # in one batch: newer then older
        produce_snapshots(
            bootstrap,
            topics,
            [
                snapshot("c1", "w1", 7, 7, insights=insights_of(7)),
                snapshot("c1", "w1", 6, 6, insights=insights_of(6)),
            ],
        )
        wait_caught_up(bootstrap, group_id, topics)
    assert stored() == (7, insights_json(insights_of(7)))

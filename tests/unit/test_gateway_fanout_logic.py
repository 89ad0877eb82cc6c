"""Conflation (outbox), latest-snapshot store, channel names and REST parameters: the gateway's
pure logic, checked with plain values and hypothesis."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contract.events import Snapshot, Statistics, WindowCounts
from gateway.channels import ChannelError, Kind, parse_channel, snapshot_channels
from gateway.fanout import Protocol, render
from gateway.outbox import Outbox, Overflow
from gateway.params import ParamError, recipients_query, series_query
from gateway.store import SnapshotStore

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def snap(campaign: str, seq: int, workspace: str = "1", uuid: str = "") -> Snapshot:
    stats = Statistics(
        total_message_count=10,
        total_sent_count=seq,
        total_delivered_count=0,
        total_read_count=0,
        total_played_count=0,
        total_failed_count=0,
        pending_count=0,
        delivery_rate=0.0,
        read_rate=0.0,
        success_rate=0.0,
        updated_at=T0,
    )
    return Snapshot(
        campaign_id=campaign,
        campaign_uuid=uuid,
        workspace_id=workspace,
        seq=seq,
        window=WindowCounts(start=T0, end=T0),
        statistics=stats,
        timestamp=T0,
    )


# --------------------------------------------------------------------------- outbox

puts = st.lists(
    st.tuples(st.sampled_from(["a", "b", "c", None]), st.integers(0, 1000)), max_size=60
)


@given(puts)
def test_outbox_keeps_the_newest_frame_per_key_and_every_unkeyed_frame_in_order(
    ops: list[tuple[str | None, int]],
) -> None:
    box = Outbox(limit=1000)
    for key, value in ops:
        box.put(f"{key}:{value}", 0.0, key)
    frames = [frame for frame, _ in box.take()]
    for key in ("a", "b", "c"):
        last = [f"{k}:{v}" for k, v in ops if k == key][-1:]
        assert [f for f in frames if f.startswith(f"{key}:")] == last
    assert [f for f in frames if f.startswith("None:")] == [
        f"None:{v}" for k, v in ops if k is None
    ]
    assert len(box) == 0 and box.take() == []


def test_outbox_overflows_past_its_bound_but_replacing_never_overflows() -> None:
    box = Outbox(limit=2)
    box.put("1", 0.0, "k1")
    box.put("2", 0.0, "k2")
    box.put("2'", 0.0, "k2")  # conflated: still two pending
    with pytest.raises(Overflow):
        box.put("3", 0.0)
    assert [f for f, _ in box.take()] == ["1", "2'"]


# --------------------------------------------------------------------------- store


@given(st.permutations(list(range(1, 9))))
def test_store_keeps_the_highest_seq_whatever_the_order(order: list[int]) -> None:
    store = SnapshotStore()
    kept = [store.offer(snap("c", seq, uuid="u")) for seq in order]
    held = store.get("1", "c")
    assert held is not None and held.seq == 8
    assert store.get("1", "u") == held and store.get("2", "c") is None
    # an offer is kept exactly when it beats everything before it
    assert kept == [seq == max(order[: i + 1]) for i, seq in enumerate(order)]


def test_store_lists_a_workspace_and_follows_a_campaign_that_moves() -> None:
    store = SnapshotStore()
    store.offer(snap("2", 1, "w1"))
    store.offer(snap("1", 1, "w1"))
    store.offer(snap("3", 1, "w2"))
    assert [s.campaign_id for s in store.of_workspace("w1")] == ["1", "2"]
    store.offer(snap("2", 2, "w2"))
    assert [s.campaign_id for s in store.of_workspace("w1")] == ["1"]
    assert [s.campaign_id for s in store.of_workspace("w2")] == ["2", "3"]
    assert store.of_workspace("none") == [] and store.get("w1", "missing") is None


def test_a_name_resolves_within_its_workspace_and_an_id_beats_a_uuid() -> None:
    store = SnapshotStore()
    store.offer(snap("x", 1, "A", uuid="shared"))  # A's uuid is B's id
    store.offer(snap("shared", 1, "B", uuid="b-uuid"))
    store.offer(snap("y", 1, "B", uuid="x"))  # B's uuid is A's id
    assert store.get("A", "shared").campaign_id == "x"  # type: ignore[union-attr]
    assert store.get("B", "shared").campaign_id == "shared"  # type: ignore[union-attr]
    assert store.get("B", "x").campaign_id == "y"  # type: ignore[union-attr]
    assert store.get("C", "shared") is None
    assert [s.campaign_id for s in store.named("shared")] == ["shared", "x"]
    store.offer(snap("x", 2, "A", uuid="renamed"))
    assert store.get("A", "shared") is None and store.get("A", "renamed") is not None


# --------------------------------------------------------------------------- channels


def test_channel_names() -> None:
    assert parse_channel("campaign.42").kind is Kind.CAMPAIGN
    assert parse_channel("private-workspace.7").private
    assert parse_channel("private-workspace.7").ref == "7"
    assert parse_channel("App.Models.User.1").kind is Kind.OTHER
    for bad in ("", "campaign.", "presence-room", "private-encrypted-x", "x" * 201):
        with pytest.raises(ChannelError):
            parse_channel(bad)


def test_a_snapshot_goes_to_its_campaign_by_id_and_uuid_and_to_its_workspace() -> None:
    names = snapshot_channels(snap("789", 1, "5", uuid="c5ab"))
    assert set(names) == {
        "campaign.789",
        "campaign.c5ab",
        "workspace.5",
        "private-campaign.789",
        "private-campaign.c5ab",
        "private-workspace.5",
    }
    assert len(snapshot_channels(snap("789", 1, "5"))) == 4


def test_frames_of_each_protocol() -> None:
    import json

    native = json.loads(
        render(Protocol.NATIVE, "campaign.1", "campaign.statistics.updated", '{"seq":1}')
    )
    assert native == {"type": "snapshot", "channel": "campaign.1", "data": {"seq": 1}}
    pusher = json.loads(
        render(Protocol.PUSHER, "campaign.1", "campaign.statistics.updated", '{"seq":1}')
    )
    assert pusher == {
        "event": "campaign.statistics.updated",
        "channel": "campaign.1",
        "data": '{"seq":1}',
    }


# --------------------------------------------------------------------------- parameters


def test_series_parameters() -> None:
    q = series_query(
        {"from": "2026-11-01T00:00:00Z", "to": "2026-11-01T01:00:00", "step": "60"}, T0, 1.0
    )
    assert (q.start, q.end, q.step) == (T0, T0 + timedelta(hours=1), 60.0)
    q = series_query({}, T0, 1.0)
    assert q.end == T0 and q.start == T0 - timedelta(hours=1) and q.step == 1.0
    for bad, param in (
        ({"from": "yesterday"}, "from"),
        ({"from": "2026-11-02T00:00:00Z", "to": "2026-11-01T00:00:00Z"}, "from"),
        ({"step": "0.5"}, "step"),
        ({"step": "nan"}, "step"),
        ({"step": "x"}, "step"),
        ({"from": "2020-01-01T00:00:00Z"}, "step"),  # millions of 1 s points
    ):
        with pytest.raises(ParamError) as err:
            series_query(bad, T0, 1.0)
        assert err.value.param == param


def test_recipient_parameters() -> None:
    assert recipients_query({}).limit == 50
    q = recipients_query({"status": "read", "after": "m9", "limit": "1000"})
    assert (q.status, q.after, q.limit) == ("read", "m9", 1000)
    for bad in ({"limit": "0"}, {"limit": "1001"}, {"limit": "many"}, {"status": "seen"}):
        with pytest.raises(ParamError):
            recipients_query(bad)


@given(st.sampled_from([0, 1, 125, 126, 127, 65_535, 65_536, 70_000]))
def test_ws_frame_is_a_final_unmasked_text_frame_of_the_right_length(size: int) -> None:
    from gateway.fanout import ws_frame

    frame = ws_frame("x" * size)
    assert frame[0] == 0x81  # FIN + text
    assert frame[1] & 0x80 == 0  # servers never mask
    if size < 126:
        header, length = 2, frame[1]
    elif size < 65_536:
        header, length = 4, int.from_bytes(frame[2:4], "big")
        assert frame[1] == 126
    else:
        header, length = 10, int.from_bytes(frame[2:10], "big")
        assert frame[1] == 127
    assert length == size and frame[header:] == b"x" * size

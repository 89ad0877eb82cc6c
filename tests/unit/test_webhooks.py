"""Outbound webhooks, the pure parts: events derived from snapshots, the backoff schedule, the
signature (checked by ingest's own verifier), request headers, answers, subscriptions' input."""

from __future__ import annotations

import hmac
import json
import string
from datetime import UTC, datetime, timedelta, timezone
from urllib.parse import unquote

import msgspec
import pytest
from aiokafka import ConsumerRecord
from hypothesis import given
from hypothesis import strategies as st
from multidict import CIMultiDict

from contract.events import Snapshot, Statistics, WindowCounts, encode
from contract.signing import webjs_headers
from ingest.auth import AuthError, check_webjs
from webhooks.backoff import backoff_seconds
from webhooks.consumer import batch_events
from webhooks.events import COMPLETED, STATISTICS, WebhookEvent, events_of
from webhooks.outbox import events_param
from webhooks.sending import (
    EVENT_HEADER,
    EVENT_ID_HEADER,
    answered,
    header_value,
    request_headers,
)
from webhooks.settings import WebhookSettings
from webhooks.subscriptions import SubscriptionError, check_url, new_secret, parse_events

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
NOW = 1_764_072_000.0


def snapshot(
    seq: int, completed_at: datetime | None = None, campaign: str = "c1", workspace: str = "w1"
) -> Snapshot:
    at = T0 + timedelta(seconds=seq % 10**6)
    return Snapshot(
        campaign_id=campaign,
        campaign_uuid=f"uuid-{campaign}",
        workspace_id=workspace,
        seq=seq,
        window=WindowCounts(start=at - timedelta(seconds=1), end=at, sent=1),
        statistics=Statistics(
            total_message_count=10,
            total_sent_count=seq,
            total_delivered_count=0,
            total_read_count=0,
            total_played_count=0,
            total_failed_count=0,
            pending_count=10 - seq,
            delivery_rate=0.0,
            read_rate=0.0,
            success_rate=seq * 10.0,
            updated_at=at,
            completed_at=completed_at,
        ),
        timestamp=at,
    )


def body_of(event: WebhookEvent) -> dict[str, object]:
    return dict(json.loads(msgspec.json.encode(event)))


# --------------------------------------------------------------------------- events


def test_every_snapshot_is_a_statistics_event_with_its_seq_in_the_id() -> None:
    (event,) = events_of(snapshot(7))
    assert (event.type, event.id) == (STATISTICS, "c1:statistics:7")
    body = body_of(event)
    assert body["workspace_id"] == "w1" and body["campaign_uuid"] == "uuid-c1"
    assert body["created_at"] == "2026-11-25T12:00:07Z"  # the snapshot's own time
    assert body["data"] == json.loads(encode(snapshot(7)))


def test_a_completed_snapshot_is_also_a_completed_event() -> None:
    done = T0 + timedelta(seconds=5, microseconds=250_000)
    statistics, completed = events_of(snapshot(9, completed_at=done))
    assert statistics.type == STATISTICS
    assert (completed.type, completed.id) == (
        COMPLETED,
        "c1:completed:2026-11-25T12:00:05.250000Z",
    )
    # the id holds completed_at exactly as the body's data does
    data = body_of(completed)["data"]
    assert isinstance(data, dict)
    assert completed.id.endswith(":" + data["statistics"]["completed_at"])


def test_one_completion_seen_in_many_snapshots_has_one_id_and_a_second_completion_another() -> None:
    first = T0 + timedelta(seconds=3)
    ids = {
        event.id
        for seq in (4, 5, 6)
        for event in events_of(snapshot(seq, completed_at=first))
        if event.type == COMPLETED
    }
    assert ids == {"c1:completed:2026-11-25T12:00:03Z"}
    again = [e for e in events_of(snapshot(8, completed_at=first + timedelta(minutes=2)))]
    assert again[-1].id == "c1:completed:2026-11-25T12:02:03Z"


def test_a_completion_time_in_another_offset_names_the_same_instant_in_utc() -> None:
    here = (T0 + timedelta(seconds=3)).astimezone(timezone(timedelta(hours=-3)))
    assert events_of(snapshot(4, completed_at=here))[-1].id == "c1:completed:2026-11-25T12:00:03Z"


@given(
    seq=st.integers(min_value=0, max_value=2**62),
    seconds=st.none() | st.integers(min_value=0, max_value=10**8),
    campaign=st.text(min_size=1, max_size=40),
)
def test_events_are_a_function_of_the_snapshot_alone(
    seq: int, seconds: int | None, campaign: str
) -> None:
    """Decoding the snapshot again (a replay) gives the same ids and the same bodies."""
    completed = None if seconds is None else T0 + timedelta(seconds=seconds)
    original = snapshot(seq, completed, campaign=campaign)
    replayed = msgspec.json.decode(encode(original), type=Snapshot)
    first, second = events_of(original), events_of(replayed)
    assert [e.type for e in first] == [STATISTICS] + ([COMPLETED] if completed else [])
    assert [(e.id, msgspec.json.encode(e)) for e in first] == [
        (e.id, msgspec.json.encode(e)) for e in second
    ]


def record(value: bytes | None, offset: int = 0) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord("t", 0, offset, 0, 0, b"c1", value, None, 2, len(value or b""), [])


def test_a_record_that_is_no_snapshot_is_skipped_and_the_rest_kept_in_order() -> None:
    records = [record(encode(snapshot(1)), 0), record(b"{nope", 1), record(None, 2)]
    records.append(record(encode(snapshot(2, completed_at=T0)), 3))
    assert [e.id for e in batch_events(records)] == [
        "c1:statistics:1",
        "c1:statistics:2",
        "c1:completed:2026-11-25T12:00:00Z",
    ]


def test_the_outbox_parameter_keeps_the_batch_order_and_each_whole_body() -> None:
    events = [*events_of(snapshot(1)), *events_of(snapshot(2, completed_at=T0))]
    rows = json.loads(events_param(events)["events"])
    assert [row["ord"] for row in rows] == [0, 1, 2]
    assert [row["event_id"] for row in rows] == [e.id for e in events]
    assert [row["payload"] for row in rows] == [body_of(e) for e in events]
    assert {row["workspace_id"] for row in rows} == {"w1"}


# --------------------------------------------------------------------------- backoff

FIRST, CAP = 1.0, 300.0


@given(
    failures=st.integers(min_value=1, max_value=5000),
    jitter=st.floats(min_value=0.0, max_value=1.0),
)
def test_a_wait_is_in_the_upper_half_of_the_doubled_wait_and_never_over_the_cap(
    failures: int, jitter: float
) -> None:
    base = min(CAP, FIRST * 2 ** min(failures - 1, 100))
    wait = backoff_seconds(failures, FIRST, CAP, jitter)
    assert base / 2 <= wait <= base <= CAP


@given(jitter=st.floats(min_value=0.0, max_value=1.0))
def test_waits_grow_with_the_failures_until_the_cap(jitter: float) -> None:
    waits = [backoff_seconds(n, FIRST, CAP, jitter) for n in range(1, 40)]
    assert waits == sorted(waits)
    assert waits[-1] == backoff_seconds(1000, FIRST, CAP, jitter) == CAP * (0.5 + 0.5 * jitter)


def test_the_default_schedule_reaches_a_receiver_back_from_ten_minutes_within_the_cap() -> None:
    """With the defaults, the tries during a 10-minute outage never leave a gap longer than
    WEBHOOKS_BACKOFF_MAX_SECONDS, so the first try after it comes at most 5 minutes later, and
    nothing is given up (48 h)."""
    settings = WebhookSettings()
    first, cap = settings.webhooks_backoff_first_seconds, settings.webhooks_backoff_max_seconds
    assert (first, cap, settings.webhooks_max_age_hours) == (1.0, 300.0, 48.0)
    for jitter in (0.0, 0.5, 1.0):
        tried_at, failures = 0.0, 0
        while tried_at < 600:  # every try during the outage fails
            failures += 1
            tried_at += backoff_seconds(failures, first, cap, jitter)
        gap = backoff_seconds(failures, first, cap, jitter)
        assert tried_at - 600 <= gap <= cap
    assert backoff_seconds(0, first, cap, 1.0) == 0.0


# --------------------------------------------------------------------------- signature

secrets_ = st.text(min_size=1, max_size=64).filter(lambda s: "\x00" not in s)


@given(secret=secrets_, body=st.binary(max_size=2000))
def test_the_signature_is_the_node_services_and_ingest_accepts_it(secret: str, body: bytes) -> None:
    headers = webjs_headers(secret, body, NOW)
    assert headers["X-Timestamp"] == str(int(NOW))
    expected = hmac.new(secret.encode(), str(int(NOW)).encode() + body, "sha256").hexdigest()
    assert headers["X-HMAC-Signature"] == expected
    check_webjs(secret, CIMultiDict(headers), body, NOW)  # ingest's verifier, unchanged


@given(secret=secrets_, body=st.binary(min_size=1, max_size=200))
def test_a_changed_body_or_another_secret_fails_ingests_check(secret: str, body: bytes) -> None:
    headers = CIMultiDict(webjs_headers(secret, body, NOW))
    with pytest.raises(AuthError):
        check_webjs(secret, headers, body + b" ", NOW)
    with pytest.raises(AuthError):
        check_webjs(secret + "x", headers, body, NOW)


def test_a_request_carries_the_event_and_a_signature_of_its_exact_body() -> None:
    body = b'{"id": "c1:statistics:1"}'
    headers = request_headers("s3cret", STATISTICS, "c1:statistics:1", body, NOW)
    assert headers[EVENT_HEADER] == STATISTICS
    assert headers[EVENT_ID_HEADER] == "c1:statistics:1"
    assert headers["Content-Type"] == "application/json"
    check_webjs("s3cret", CIMultiDict(headers), body, NOW)


@given(st.text(max_size=80))
def test_a_header_value_is_printable_ascii_and_decodes_to_the_id(text: str) -> None:
    value = header_value(text)
    assert all(32 <= ord(c) < 127 for c in value)
    assert unquote(value) == text


def test_a_plain_id_is_its_own_header_value() -> None:
    plain = "camp-789:completed:2026-11-25T12:00:05.250000Z"
    assert header_value(plain) == plain
    assert header_value("c\n1 é%") == "c%0A1 %C3%A9%25"


# --------------------------------------------------------------------------- answers


@pytest.mark.parametrize("status", [200, 201, 202, 204, 299])
def test_a_2xx_is_delivered(status: int) -> None:
    outcome = answered(status, "OK", "")
    assert (outcome.delivered, outcome.status, outcome.error) == (True, status, "")


@pytest.mark.parametrize("status", [301, 302, 400, 401, 404, 410, 429, 500, 503])
def test_any_other_answer_is_retried_with_the_reason(status: int) -> None:
    outcome = answered(status, "Nope", "line one\n\x00 " + "x" * 1000)
    assert not outcome.delivered and outcome.status == status
    assert outcome.error.startswith(f"HTTP {status} Nope: line one x")
    assert "\x00" not in outcome.error and "\n" not in outcome.error
    assert len(outcome.error) < 250


# --------------------------------------------------------------------------- subscribing


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:8000/hook", "https://app.example.com/api/tickstream?x=1", "http://h"],
)
def test_http_and_https_urls_are_accepted(url: str) -> None:
    assert check_url(url) == url


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/x",
        "file:///etc/passwd",
        "example.com/hook",
        "http://",
        "https:///path",
        "http://example.com:99999/",
        "http://[::1/",
        "http://example.com/a b",
        "http://example.com/\n",
    ],
)
def test_other_urls_are_refused(url: str) -> None:
    with pytest.raises(SubscriptionError):
        check_url(url)


def test_event_lists_are_sorted_without_repeats_and_only_known_names() -> None:
    assert parse_events("campaign.statistics, campaign.completed,campaign.statistics") == [
        COMPLETED,
        STATISTICS,
    ]
    for bad in ("", " , ", "campaign.started", "campaign.completed,nope"):
        with pytest.raises(SubscriptionError):
            parse_events(bad)


def test_a_new_secret_is_32_random_bytes_in_hex() -> None:
    first, second = new_secret(), new_secret()
    assert len(first) == 64 and set(first) <= set(string.hexdigits.lower())
    assert first != second


def test_settings_are_read_by_their_names() -> None:
    settings = WebhookSettings.from_env(
        {"WEBHOOKS_BACKOFF_MAX_SECONDS": "30", "WEBHOOKS_CONCURRENCY": "4", "WEBHOOKS_PORT": "9"}
    )
    assert (settings.webhooks_backoff_max_seconds, settings.webhooks_concurrency) == (30.0, 4)
    assert settings.webhooks_port == 9

"""The simulator's webhook bodies are what each provider sends: ingest's own authentication and
parsers accept every one of them and read back exactly the status the plan meant, so the
simulator's oracle speaks about the same events the pipeline receives."""

from __future__ import annotations

import dataclasses
import json
import random
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import msgspec

from contract.events import AckEvent, Dispatch, Skip
from ingest.providers import api, webjs
from ingest.webhooks import WEBHOOKS, Request
from ingest.webjs_body import SNIFF_BYTES, ignorable_event
from tickstream.deployment import Deployment
from tickstream.simulator.comparison import insight_differences
from tickstream.simulator.labels import TAGS, TEMPLATES
from tickstream.simulator.oracle import insights_oracle, oracle
from tickstream.simulator.plan import Shape, make_plan
from tickstream.simulator.sending import request_for
from tickstream.simulator.webhooks import META_ERRORS, PROVIDERS, TWILIO_ERRORS, WEBJS_ERRORS

START = datetime(2026, 11, 25, 12, tzinfo=UTC)
SETTINGS = Deployment.from_env(
    {
        "INGEST_API_TOKEN": "api",
        "WEBJS_HMAC_SECRET": "webjs",
        "WAHA_HMAC_KEY": "waha",
        "EVOLUTION_TOKEN": "evo",
        "META_APP_SECRET": "meta",
        "TWILIO_AUTH_TOKEN": "twilio",
        "PUBLIC_BASE_URL": "http://127.0.0.1:8090",
    }
)


def _fields(event: AckEvent) -> tuple[object, ...]:
    """What an ack tells the pipeline (ingest adds the rest: its key, the recipient…)."""
    return (
        event.message_id,
        event.status,
        event.provider,
        event.received_at,
        event.occurred_at,
        event.error_code,
        event.error_title,
    )


def test_every_body_authenticates_and_parses_to_the_events_it_stands_for() -> None:
    """Ingest's own authentication and parsers, given each request at its planned time, read
    back exactly the canonical events the plan says it stands for: statuses, event times as each
    provider stamps them, error codes and titles, dispatches with their labels, skips."""
    p = make_plan(Shape(campaigns=2, recipients=300, seed=5, horizon=86_400 * 2), "7", "t", START)
    now = time.time()
    kinds: Counter[str] = Counter()
    for post in p.posts:
        path, headers = request_for(post, SETTINGS, now)
        kinds[post.kind] += 1
        received = START + timedelta(seconds=post.at)
        if post.kind in ("dispatches", "skips", "campaigns"):
            assert headers["Authorization"] == "Bearer api"
        if post.kind == "dispatches":
            assert tuple(api.parse_dispatches(post.body, received)) == post.events
            continue
        if post.kind == "skips":
            assert tuple(api.parse_skips(post.body, received)) == post.events
            continue
        if post.kind == "campaigns":
            (campaign,) = api.parse_campaigns(post.body, START)
            assert campaign.total_recipients == 300 and campaign.workspace_id == "7"
            assert post.events == ()
            continue
        hook = WEBHOOKS[post.kind]
        url = SETTINGS.ingest.public_base_url + path
        hook.authenticate(
            SETTINGS.ingest, Request(headers, post.body, url, now)
        )  # raises if forged
        parsed = hook.parse(post.body, received)
        assert [_fields(e) for e in parsed] == [
            _fields(e) for e in post.events if isinstance(e, AckEvent)
        ]
        assert len(parsed) == post.acks == len(post.events)
    assert set(PROVIDERS) <= set(kinds)  # every provider format is exercised
    acks = [e for e in p.events if isinstance(e, AckEvent)]
    assert len(acks) == p.acks > len({(e.message_id, e.status) for e in acks})  # retries
    # the providers that stamp an event time, and only those, give occurred_at
    stamped = {e.provider for e in acks if e.occurred_at is not None}
    assert stamped == {"meta", "waha", "evolution"}


def test_the_plan_holds_every_awkward_case() -> None:
    p = make_plan(Shape(campaigns=1, recipients=2000, seed=3), "1", "t", START)
    acks = [e for e in p.events if isinstance(e, AckEvent)]
    statuses = Counter(e.status for e in acks)
    for status in ("sent", "delivered", "read", "played", "failed"):
        assert statuses[status] > 0, status
    by_message: dict[str, list[str]] = {}
    for e in acks:
        by_message.setdefault(e.message_id, []).append(e.status)
    assert any(s[-1] == "delivered" and "failed" in s for s in by_message.values())
    assert any("read" in s and "delivered" not in s for s in by_message.values())
    # acks posted before the sender recorded the dispatch
    dispatched_at = {post.message_id: post.at for post in p.posts if post.kind == "dispatches"}
    first_ack_at: dict[str, float] = {}
    for post in p.posts:
        if post.acks:
            first_ack_at.setdefault(post.message_id, post.at)  # posts are in time order
    assert any(at < dispatched_at[m] for m, at in first_ack_at.items())
    expected = oracle(p.events)["sim-t-1"]
    # every recipient is either dispatched or left out, and some left out were sent after all
    assert expected.dispatched + expected.skipped == 2000
    skipped = {e.recipient for e in p.events if isinstance(e, Skip)}
    dispatched = {e.recipient for e in p.events if isinstance(e, Dispatch)}
    assert 0 < expected.skipped < len(skipped)
    assert skipped & dispatched
    assert 0 < expected.failed < expected.sent


def test_same_seed_same_plan() -> None:
    one = make_plan(Shape(campaigns=1, recipients=50, seed=9), "1", "x", START)
    two = make_plan(Shape(campaigns=1, recipients=50, seed=9), "1", "x", START)
    assert one.posts == two.posts


def test_the_node_service_posts_its_real_shapes() -> None:
    """Every event kind of the whatsapp-web.js Node service, as it builds them: no ack level in
    message_delivered / message_read, the creation time as their timestamp, and media answers
    far beyond MAX_BODY_BYTES that ingest drops unread."""
    p = make_plan(Shape(campaigns=2, recipients=400, seed=11), "7", "t", START)
    webjs_posts = [post for post in p.posts if post.kind == "webjs"]
    bodies = [json.loads(post.body) for post in webjs_posts]
    assert {body["event"] for body in bodies} == webjs.OTHER_EVENTS - {"session_error"} | {
        "message_status_updated",
        "message_delivered",
        "message_read",
    }
    for post, body in zip(webjs_posts, bodies, strict=True):
        assert post.body.startswith(b'{"event":')  # the order ingest's sniffing relies on
        verdict = ignorable_event(post.body[:SNIFF_BYTES])
        assert verdict == ("" if body["event"] in webjs.ACK_EVENTS else body["event"])
        assert post.acks == (body["event"] in webjs.ACK_EVENTS)
        if body["event"] in ("message_delivered", "message_read"):
            assert set(body["data"]) == {
                "workspace_id",
                "session_id",
                "message_id",
                "recipient",
                "timestamp",
            }
    assert max(len(post.body) for post in webjs_posts) > 1_048_576
    # each message's acks carry when it was created, never when the ack happened
    created = {
        body["data"]["message"]["id"]: body["data"]["message"]["timestamp"]
        for body in bodies
        if body["event"] == "message_sent"
    }
    for body in bodies:
        if body["event"] in webjs.STATUS_EVENTS:
            assert body["data"]["timestamp"] == created[body["data"]["message_id"]]


def test_labels_variants_failures_and_delays_are_realistic() -> None:
    """A template per campaign, A/B variants whose read rates differ, a few tags, some messages
    with no label; failures with each provider's real codes and texts; delays from under a
    second to a day."""
    p = make_plan(Shape(campaigns=2, recipients=3000, seed=7, horizon=86_400 * 2), "1", "t", START)
    dispatches = [e for e in p.events if isinstance(e, Dispatch)]
    for campaign, template in zip(p.campaigns, TEMPLATES, strict=False):
        assert {d.template for d in dispatches if d.campaign_id == campaign} == {template, ""}
    assert {d.variant for d in dispatches} == {"A", "B", ""}
    assert max(len(d.tags) for d in dispatches) == 3 and set(TAGS) == {
        t for d in dispatches for t in d.tags
    }
    for campaign, insights in insights_oracle(p.events).items():
        rates = {
            g.value: g.counters.read / g.counters.delivered
            for g in insights.groups
            if g.kind == "variant"
        }
        assert rates["A"] > rates["B"] + 0.15, (campaign, rates)
        # reads from seconds to a day later fill the buckets from the first to the last
        assert insights.time_to_read[2] and insights.time_to_read[-1], insights.time_to_read
        assert insights.time_to_delivered[0] + insights.time_to_delivered[1] > 0
        codes = {f.code for f in insights.failures}
        assert {"131026", "131049", "131047", "63016", "63003", "63024", ""} <= codes
    failures = {
        (e.provider, e.error_code, e.error_title)
        for e in p.events
        if isinstance(e, AckEvent) and e.status == "failed"
    }
    assert {(code, title) for provider, code, title in failures if provider == "meta"} == {
        (str(code), title) for code, title in META_ERRORS
    }
    assert {(code, title) for provider, code, title in failures if provider == "twilio"} == {
        (code, "") for code, _ in TWILIO_ERRORS
    }
    assert {title for provider, _, title in failures if provider == "webjs"} == set(WEBJS_ERRORS)


def test_no_ack_comes_after_the_plan_ends() -> None:
    shape = Shape(campaigns=1, recipients=1000, duration=10, horizon=30, seed=2)
    p = make_plan(shape, "1", "t", START)
    last = max(post.at for post in p.posts if post.acks)
    assert shape.duration < last <= shape.duration + shape.horizon + 3.0  # a retry's delay
    # the horizon cut reads: far fewer than with a plan that runs for two days
    longer = make_plan(dataclasses.replace(shape, horizon=86_400 * 2), "1", "t", START)
    assert oracle(p.events)["sim-t-1"].read < oracle(longer.events)["sim-t-1"].read / 2


def test_expected_insights_bound_the_times_ingest_stamps_on_arrival() -> None:
    """Acks of Twilio and of the Node service carry no time: the plan's insights are then the
    soonest and the latest reading of the requests' round trips, and any stamp within them
    compares equal; a provider's own time is never moved."""
    p = make_plan(Shape(campaigns=1, recipients=400, seed=4, horizon=86_400), "1", "t", START)
    assert {c: e.soonest for c, e in p.expected_insights({}).items()} == insights_oracle(p.events)
    rng = random.Random(1)
    arrivals = {}
    for index, post in enumerate(p.posts):
        sent = START + timedelta(seconds=post.at + rng.uniform(0, 2))
        arrivals[index] = (sent, sent + timedelta(seconds=rng.uniform(0, 0.5)))
    expected = p.expected_insights(arrivals)["sim-t-1"]
    assert expected.soonest != expected.latest
    soonest = p.received(arrivals, latest=False)
    latest = p.received(arrivals, latest=True)
    moved = [
        (early, late)
        for early, late in zip(soonest, latest, strict=True)
        if isinstance(early, AckEvent) and early != late
    ]
    assert moved and all(early.provider in ("twilio", "webjs") for early, _ in moved)
    stamped = [
        msgspec.structs.replace(late, received_at=late.received_at - timedelta(seconds=0.1))
        if isinstance(late, AckEvent) and late.occurred_at is None
        else late
        for late in latest
    ]
    assert insight_differences(expected, insights_oracle(stamped)["sim-t-1"]) == []
    an_hour_late = [
        msgspec.structs.replace(late, received_at=late.received_at + timedelta(hours=1))
        if isinstance(late, AckEvent) and late.occurred_at is None
        else late
        for late in latest
    ]
    assert insight_differences(expected, insights_oracle(an_hour_late)["sim-t-1"]) != []

"""The simulator's webhook bodies are what each provider sends: ingest's own authentication and
parsers accept every one of them and read back exactly the status the plan meant, so the
simulator's oracle speaks about the same events the pipeline receives."""

from __future__ import annotations

import json
import time
from collections import Counter
from datetime import UTC, datetime

from contract.events import AckEvent, Dispatch, Skip
from ingest.providers import api, webjs
from ingest.webhooks import WEBHOOKS, Request
from ingest.webjs_body import SNIFF_BYTES, ignorable_event
from tickstream.deployment import Deployment
from tickstream.simulator.oracle import oracle
from tickstream.simulator.plan import Shape, make_plan
from tickstream.simulator.sending import request_for
from tickstream.simulator.webhooks import PROVIDERS

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


def test_every_body_authenticates_and_parses_to_the_planned_status() -> None:
    p = make_plan(Shape(campaigns=2, recipients=300, seed=5), "7", "t", START)
    now = time.time()
    parsed: Counter[tuple[str, str]] = Counter()
    kinds: Counter[str] = Counter()
    dispatches = []
    skips = []
    for post in p.posts:
        path, headers = request_for(post, SETTINGS, now)
        kinds[post.kind] += 1
        if post.kind == "dispatches":
            assert headers["Authorization"] == "Bearer api"
            dispatches += api.parse_dispatches(post.body, START)
            continue
        if post.kind == "skips":
            assert headers["Authorization"] == "Bearer api"
            skips += api.parse_skips(post.body, START)
            continue
        if post.kind == "campaigns":
            (campaign,) = api.parse_campaigns(post.body, START)
            assert campaign.total_recipients == 300 and campaign.workspace_id == "7"
            continue
        hook = WEBHOOKS[post.kind]
        url = SETTINGS.ingest.public_base_url + path
        hook.authenticate(
            SETTINGS.ingest, Request(headers, post.body, url, now)
        )  # raises if forged
        for event in hook.parse(post.body, START):
            parsed[(event.message_id, event.status)] += 1
    assert set(PROVIDERS) <= set(kinds)  # every provider format is exercised
    planned_acks = Counter((e.message_id, e.status) for e in p.events if isinstance(e, AckEvent))
    # every planned ack arrives at least once, duplicates only as extra copies, nothing else
    assert set(parsed) == set(planned_acks)
    assert sum(parsed.values()) == p.acks > sum(planned_acks.values())
    planned_dispatches = {e.message_id: e.campaign_id for e in p.events if isinstance(e, Dispatch)}
    assert {d.message_id: d.campaign_id for d in dispatches} == planned_dispatches
    planned_skips = {(e.message_id, e.reason_code) for e in p.events if isinstance(e, Skip)}
    assert {(s.message_id, s.reason_code) for s in skips} == planned_skips
    assert planned_skips


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

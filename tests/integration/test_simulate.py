"""The simulator against the four real services on the test broker and database (the "your own
infrastructure" path): every provider format is accepted, the gateway ends with the oracle's
totals and insights, and a sender with a wrong secret is refused and counts for nothing."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import msgspec
import pytest

from contract.settings import DatabaseSettings
from gateway.auth import issue_token
from sink.migrate import upgrade
from tickstream.deployment import Deployment
from tickstream.infra.dev_secrets import dev_secrets
from tickstream.infra.ports import free_port
from tickstream.simulator.checking import differences_table, verify
from tickstream.simulator.plan import Shape, make_plan
from tickstream.simulator.sending import send_plan
from tickstream.simulator.webhooks import PROVIDERS
from tickstream.up import Stack

pytestmark = pytest.mark.integration


@pytest.fixture
def running(settings: DatabaseSettings, tmp_path: Path) -> Iterator[Deployment]:
    """The four services as ``tickstream up`` starts them, on free ports."""
    secrets = dev_secrets(tmp_path, {})  # new ones, as a fresh `tickstream up` makes them
    ingest_port = free_port()
    env = {
        **os.environ,
        **secrets,
        "KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "DATABASE_URL": settings.database_url,
        "TOPIC_PREFIX": settings.topic_prefix,
        "TOPIC_PARTITIONS": str(settings.topic_partitions),
        "INGEST_PORT": str(ingest_port),
        "GATEWAY_PORT": str(free_port()),
        "SINK_PORT": str(free_port()),
        "WORKER_PORT": str(free_port()),
        "WEBHOOKS_PORT": str(free_port()),
        "WORKER_DATA_DIR": str(tmp_path / "worker"),
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{ingest_port}",
        "WINDOW_SECONDS": "0.5",
        "LOG_LEVEL": "WARNING",
    }
    upgrade(settings.database_url)  # before any service, as `tickstream up` does
    stack = Stack.services(env, tmp_path / "logs")
    stack.start()
    try:
        stack.wait_healthy(180)
        yield Deployment.from_env(env)
    finally:
        stack.stop()


async def test_simulated_campaigns_end_with_the_oracles_totals_and_insights(
    running: Deployment,
) -> None:
    """Labelled A/B campaigns whose acks come over seconds to minutes (a hundredth of real
    delays), failures with each provider's codes: the gateway ends with the oracle's counters and
    insights (time buckets, failures, groups)."""
    shape = Shape(campaigns=3, recipients=200, duration=3, delay_scale=0.01, horizon=1200, seed=21)
    plan = make_plan(shape, "ws-sim", "it", datetime.now(UTC))
    assert {*PROVIDERS, "skips"} <= {post.kind for post in plan.posts}
    report = await send_plan(plan, running)
    assert report.refused == []
    assert report.sent_posts == len(plan.posts) == len(report.arrivals)
    insights = plan.expected_insights(report.arrivals)
    for expected in insights.values():  # what is compared is there to differ
        assert expected.soonest.failures and expected.soonest.groups
        assert sum(1 for count in expected.soonest.time_to_read if count) >= 3
    token = issue_token(running.gateway.token_secret, "ws-sim", ttl_seconds=600)
    left = await verify(running, token, plan.expected(), insights, within=120)
    assert left == {}, f"the gateway differs from the oracle:\n{differences_table(left)}"


async def test_a_sender_with_a_wrong_secret_is_refused(running: Deployment) -> None:
    plan = make_plan(
        Shape(campaigns=1, recipients=40, duration=1, delay_scale=0.05), "w", "x", datetime.now(UTC)
    )
    forged = msgspec.structs.replace(
        running, ingest=running.ingest.replace(meta_app_secret="not-the-secret")
    )
    report = await send_plan(plan, forged)
    meta_posts = [post for post in plan.posts if post.kind == "meta"]
    assert meta_posts
    assert len(report.refused) == len(meta_posts)
    assert all(refusal.startswith("meta 401") for refusal in report.refused)

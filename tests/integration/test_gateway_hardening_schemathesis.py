"""schemathesis fuzzes every operation of the gateway's ``/openapi.json`` against a real gateway
process (real PostgreSQL and Kafka), with a valid workspace token: no answer may be a 5xx, every
answer must match the document, and nothing may crash in the gateway's log.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from typing import IO

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from contract.admin import create_topics
from contract.events import Counters, Failure, GroupStatistics, Insights
from contract.settings import DatabaseSettings
from contract.topics import Topics
from gateway.openapi import openapi_document
from gateway.settings import GatewaySettings
from tests.integration.gateway_support import (
    ROOT,
    gateway_env,
    gateway_settings,
    insert_campaign,
    make_snapshot,
    prepare_database,
    store_snapshot,
    store_window,
    token,
)
from tickstream.infra.testbed import fresh_database

pytestmark = pytest.mark.integration

WORKSPACE = "W"
WINDOW_SECONDS = 1.0
schema = schemathesis.openapi.from_dict(openapi_document(WINDOW_SECONDS))
# the example campaign's insights: two variants (so comparisons are made), a tag, a template, a
# failure without a title, so every insight answer is checked against the document with content
_READ = [0, 0, 0, 0, 3, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]
INSIGHTS = Insights(
    time_to_sent=[10, *[0] * 15],
    time_to_delivered=[0, 5, *[0] * 14],
    time_to_read=_READ,
    failures=[Failure(code="131026", title="", count=2)],
    groups=[
        GroupStatistics(
            kind=kind,
            value=value,
            counters=Counters(dispatched=6, sent=6, delivered=6, read=reads),
            time_to_read=_READ,
        )
        for kind, value, reads in (
            ("variant", "A", 2),
            ("variant", "B", 4),
            ("tag", "spring", 6),
            ("template", "welcome", 6),
        )
    ],
)


@pytest.fixture(scope="module")
def gateway_url(
    kafka_bootstrap: str, postgres_admin_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    prefix = f"fuzz{uuid.uuid4().hex[:8]}-"
    topics = Topics(prefix=prefix, partitions=4)
    create_topics(kafka_bootstrap, topics.all())
    with fresh_database(postgres_admin_url, f"fuzz_{uuid.uuid4().hex[:10]}") as database_url:
        engine = prepare_database(database_url)
        # the document's example campaign, so that fuzzing reaches past the 404
        insert_campaign(engine, "789", WORKSPACE, uuid="c5ab3c9f")
        snapshot = make_snapshot("789", WORKSPACE, 1, uuid="c5ab3c9f", sent=10, insights=INSIGHTS)
        store_snapshot(engine, snapshot)
        store_window(engine, "789", WORKSPACE, snapshot.window.start, 1, 1, 10)
        engine.dispose()
        common = DatabaseSettings(
            kafka_bootstrap=kafka_bootstrap,
            database_url=database_url,
            topic_prefix=prefix,
            topic_partitions=4,
        )
        cfg = gateway_settings(common)
        log = tmp_path_factory.mktemp("gateway") / "gateway.log"
        with log.open("wb") as sink:
            process = start(cfg, sink)
            try:
                url = f"http://{cfg.bind_host}:{cfg.gateway_port}"
                wait_ready(url, process)
                yield url
            finally:
                process.send_signal(signal.SIGTERM)
                process.wait(30)
    # a graceful exit, and no traceback in the log: nothing crashed while fuzzed
    text = log.read_text(errors="replace")
    assert process.returncode == 0, text[-2000:]
    assert "Traceback" not in text, text[-4000:]


def start(cfg: GatewaySettings, log: IO[bytes]) -> subprocess.Popen[bytes]:
    """``python -m gateway`` as deployed, its log (stderr) in ``log``."""
    argv = [sys.executable, "-m", "gateway"]
    return subprocess.Popen(argv, env=gateway_env(cfg), cwd=ROOT, stderr=log)


def wait_ready(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, "the gateway process exited"
        try:
            with urllib.request.urlopen(f"{url}/readyz") as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError):
            pass
        time.sleep(0.2)
    raise AssertionError("the gateway never became ready")


@schema.parametrize()
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_5xx_and_answers_match_the_document(case: schemathesis.Case, gateway_url: str) -> None:
    headers = {"Authorization": f"Bearer {token(WORKSPACE)}"}
    # The series' parameters also depend on each other (from before to, at most 10,000 buckets
    # between them), which JSON Schema cannot state: a schema-valid series request may still
    # get its 400, so only there is a 400 for valid-looking data no failure.
    case.call_and_validate(
        base_url=gateway_url,
        headers=headers,
        excluded_checks=[positive_data_acceptance] if case.path.endswith("/series") else None,
    )


def test_the_gateway_serves_the_document(gateway_url: str) -> None:
    with urllib.request.urlopen(f"{gateway_url}/openapi.json") as resp:
        assert json.load(resp) == json.loads(json.dumps(openapi_document(WINDOW_SECONDS)))

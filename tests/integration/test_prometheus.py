"""deploy/prometheus and deploy/grafana against a real Prometheus scraping a running pipeline: the
rules pass ``promtool check rules`` and evaluate, every query of the dashboard returns series,
and every service logs one JSON object per line with ``LOG_FORMAT=json``."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest
import yaml

from contract.settings import DatabaseSettings
from gateway.auth import issue_token
from sink.migrate import upgrade
from tests.integration.deployment_support import deployment_env
from tests.integration.pipeline import stop
from tickstream.deployment import Deployment
from tickstream.infra.ports import free_port
from tickstream.simulator.plan import Shape, make_plan
from tickstream.simulator.sending import send_plan
from tickstream.up import Stack

pytestmark = pytest.mark.integration

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
WORKSPACE = "ws-prom"


def dashboard_queries() -> list[str]:
    dashboard = json.loads((DEPLOY / "grafana" / "tickstream.json").read_text("utf-8"))
    return [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]


@pytest.fixture
def pipeline(settings: DatabaseSettings, tmp_path: Path) -> Iterator[tuple[Deployment, Stack]]:
    """The four services and the Kafka exporter, logging JSON."""
    env = deployment_env(
        settings.kafka_bootstrap,
        settings.database_url,
        settings.topic_prefix,
        settings.topic_partitions,
        tmp_path,
    )
    env.update(LOG_FORMAT="json", LOG_LEVEL="INFO", KAFKA_EXPORTER_PORT=str(free_port()))
    upgrade(settings.database_url)
    stack = Stack.services(env, tmp_path / "logs")
    exporter = [sys.executable, "-m", "tickstream.kafka_exporter"]
    stack.add("kafka-exporter", exporter, int(env["KAFKA_EXPORTER_PORT"]))
    stack.start()
    try:
        stack.wait_healthy(180)
        yield Deployment.from_env(env), stack
    finally:
        stack.stop()


@pytest.fixture
def prometheus(pipeline: tuple[Deployment, Stack], tmp_path: Path) -> Iterator[str]:
    """Debian's Prometheus scraping every process of the pipeline each second, with the rules."""
    _, stack = pipeline
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(DEPLOY / "prometheus" / "alerts.yml")],
        "scrape_configs": [
            {"job_name": child.name, "static_configs": [{"targets": [f"127.0.0.1:{child.port}"]}]}
            for child in stack.children
        ],
    }
    config_file = tmp_path / "prometheus.yml"
    config_file.write_text(yaml.safe_dump(config), encoding="utf-8")
    port = free_port()
    with (tmp_path / "prometheus.log").open("ab") as log:
        process = subprocess.Popen(
            [
                "prometheus",
                f"--config.file={config_file}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        poll(lambda: answers(f"{base}/-/ready") or process.poll() is not None)
        assert process.poll() is None, (tmp_path / "prometheus.log").read_text()
        yield base
    finally:
        stop(process)


def test_the_rules_pass_promtool() -> None:
    checked = subprocess.run(
        ["promtool", "check", "rules", str(DEPLOY / "prometheus" / "alerts.yml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


async def test_every_dashboard_query_returns_series_and_every_rule_evaluates(
    pipeline: tuple[Deployment, Stack], prometheus: str
) -> None:
    deployment, stack = pipeline
    plan = make_plan(
        Shape(campaigns=2, recipients=150, duration=4, delay_scale=0.05, seed=9),
        WORKSPACE,
        "prom",
        datetime.now(UTC),
    )
    gateway = f"http://127.0.0.1:{deployment.gateway.gateway_port}"
    token = issue_token(deployment.gateway.token_secret, WORKSPACE, ttl_seconds=600)
    async with aiohttp.ClientSession() as http:
        # one refused request, so that the errors panel has a series to show
        ingest = f"http://127.0.0.1:{deployment.ingest.ingest_port}"
        async with http.post(f"{ingest}/v1/events", data=b"[]") as refused:
            assert refused.status == 401
        async with http.ws_connect(f"{gateway}/ws?token={token}") as ws:
            await ws.send_str(
                json.dumps({"action": "subscribe", "channel": f"workspace.{WORKSPACE}"})
            )
            report = await send_plan(plan, deployment)
            assert report.refused == []
            missing = await asyncio.to_thread(queries_without_series, prometheus)
            frames = 0
            while not ws.closed and frames < 2:
                message = await ws.receive(timeout=30)
                frames += json.loads(message.data).get("type") == "snapshot"
    assert missing == [], f"dashboard queries with no series: {missing}"
    rules = await asyncio.to_thread(evaluated_rules, prometheus)
    assert len(rules) == 16
    assert [rule["name"] for rule in rules if rule["health"] != "ok"] == []
    for child in stack.children:
        lines = child.log.read_text("utf-8").splitlines()
        assert lines or child.name == "kafka-exporter", child.name  # it logs only trouble
        # librdkafka's own diagnostics too: the clients hand them to Python logging
        for line in lines:
            entry = json.loads(line)
            assert entry["service"] == child.name and {"level", "message"} <= entry.keys()


def queries_without_series(base: str, within: float = 180.0) -> list[str]:
    """Asks every dashboard query until each returns a series (or time is up)."""
    missing = dashboard_queries()
    deadline = time.monotonic() + within
    while missing and time.monotonic() < deadline:
        missing = [expr for expr in missing if not query(base, expr)]
        if missing:
            time.sleep(1.0)
    return missing


def evaluated_rules(base: str, within: float = 60.0) -> list[dict]:
    """Every rule once Prometheus has evaluated each at least once."""
    deadline = time.monotonic() + within
    while True:
        with urllib.request.urlopen(f"{base}/api/v1/rules", timeout=10) as response:
            groups = json.load(response)["data"]["groups"]
        rules = [rule for group in groups for rule in group["rules"]]
        evaluated = all(not rule["lastEvaluation"].startswith("0001") for rule in rules)
        if (rules and evaluated) or time.monotonic() > deadline:
            return rules
        time.sleep(1.0)


def query(base: str, expr: str) -> list[dict]:
    url = f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(url, timeout=10) as response:
        answer = json.load(response)
    assert answer["status"] == "success", answer
    return list(answer["data"]["result"])


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def poll(condition: Callable[[], bool], within: float = 60.0) -> None:
    deadline = time.monotonic() + within
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.2)

"""docker-compose.kafka.yml cannot be run here (no Docker engine): check it against the settings
module instead, so that it cannot drift from what the services read."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from contract.settings import DatabaseSettings, ServiceSettings
from gateway.settings import GatewaySettings
from ingest.settings import IngestSettings
from sink.settings import SinkSettings
from streams.settings import WorkerSettings
from webhooks.settings import WebhookSettings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.kafka.yml"
# service -> (package run with python -m, its settings, the field of its port)
SERVICES: dict[str, tuple[str, type[ServiceSettings], str]] = {
    "ingest": ("ingest", IngestSettings, "ingest_port"),
    "worker": ("streams", WorkerSettings, "worker_port"),
    "sink": ("sink", SinkSettings, "sink_port"),
    "gateway": ("gateway", GatewaySettings, "gateway_port"),
    "webhooks": ("webhooks", WebhookSettings, "webhooks_port"),
}
# the one-shot container that creates topics and migrates the database
INIT: tuple[str, type[ServiceSettings], str] = ("tickstream", DatabaseSettings, "")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def test_brings_up_kafka_kraft_postgres_and_the_five_services(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(SERVICES) | {"kafka", "postgres", "init"} == set(services)
    kafka = services["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    assert "controller" in kafka["environment"]["KAFKA_PROCESS_ROLES"]  # KRaft, no ZooKeeper
    assert services["postgres"]["image"].startswith("postgres:")


@pytest.mark.parametrize("name", [*SERVICES, "init"])
def test_every_service_gets_its_own_settings_only(compose: dict[str, Any], name: str) -> None:
    """A service's container holds no variable it does not read: no other service's secrets."""
    _, kind, _ = SERVICES.get(name, INIT)
    environment = compose["services"][name]["environment"]
    unknown = set(environment) - {field.upper() for field in kind.__struct_fields__}
    assert not unknown, f"{name} sets variables its settings do not read: {sorted(unknown)}"
    # and the values parse the way the service parses them (defaults of ${VAR:-default} applied)
    resolved = {
        key: re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", str(value))
        for key, value in environment.items()
    }
    settings = kind.from_env(resolved)
    assert settings.kafka_bootstrap == "kafka:9092"
    if isinstance(settings, DatabaseSettings):
        assert settings.database_url.startswith("postgresql://")


@pytest.mark.parametrize("name", list(SERVICES))
def test_ports_match_the_setting_defaults(compose: dict[str, Any], name: str) -> None:
    package, kind, port_field = SERVICES[name]
    service = compose["services"][name]
    default = getattr(kind(), port_field)
    assert service["command"] == ["python", "-m", package]
    assert int(service["environment"][port_field.upper()]) == default
    # published on the host's loopback only, container port = the service's port
    assert service["ports"] == [f"127.0.0.1:{default}:{default}"]


def test_services_wait_for_topics_and_schema(compose: dict[str, Any]) -> None:
    init = compose["services"]["init"]
    assert "tickstream topics create" in " ".join(init["command"])
    assert "tickstream db upgrade" in " ".join(init["command"])
    for name in SERVICES:
        needs = compose["services"][name]["depends_on"]
        assert needs["init"]["condition"] == "service_completed_successfully"


def test_dockerfile_builds_what_the_services_run() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    for package in ("streams", "ingest", "sink", "gateway", "webhooks", "tickstream"):
        assert f"COPY {package} {package}" in dockerfile
    assert "chart.umd.js" in dockerfile  # the dashboard's one browser library

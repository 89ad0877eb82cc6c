from __future__ import annotations

import re

import pytest
from aiokafka.partitioner import murmur2
from hypothesis import given
from hypothesis import strategies as st

from contract.partitioning import partition_for
from contract.settings import DatabaseSettings, SettingsError, sqlalchemy_url
from contract.topics import Topics
from gateway.settings import GatewaySettings
from ingest.settings import IngestSettings
from sink.settings import SinkSettings
from streams.settings import WorkerSettings
from tickstream.deployment import Deployment


def test_defaults_match_the_documented_ones() -> None:
    deployment = Deployment.from_env({})
    assert deployment.worker.topic_partitions == 8
    assert deployment.worker.window_seconds == 1.0
    assert deployment.ingest.ingest_port == 8090
    assert deployment.gateway.gateway_port == 8080
    assert deployment.gateway.public_channels is False


def test_values_are_parsed_by_type() -> None:
    settings = GatewaySettings.from_env(
        {"TOPIC_PARTITIONS": "3", "WINDOW_SECONDS": "0.5", "PUBLIC_CHANNELS": "true"}
    )
    assert (settings.topic_partitions, settings.window_seconds, settings.public_channels) == (
        3,
        0.5,
        True,
    )


def test_an_empty_variable_counts_as_unset() -> None:
    assert WorkerSettings.from_env({"TOPIC_PARTITIONS": "", "WORKER_PORT": ""}) == WorkerSettings()


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("TOPIC_PARTITIONS", "many", "TOPIC_PARTITIONS: Expected `int`"),
        ("TOPIC_PARTITIONS", "0", "TOPIC_PARTITIONS: Expected `int` >= 1"),
        ("PUBLIC_CHANNELS", "perhaps", "PUBLIC_CHANNELS: Expected `bool`"),
        ("WINDOW_SECONDS", "0", "WINDOW_SECONDS: Expected `float` > 0"),
        ("GATEWAY_PORT", "70000", "GATEWAY_PORT: Expected `int` <= 65535"),
    ],
)
def test_bad_values_name_the_variable(name: str, value: str, message: str) -> None:
    with pytest.raises(SettingsError, match=re.escape(message)):
        GatewaySettings.from_env({name: value})


def test_settings_are_frozen() -> None:
    with pytest.raises(AttributeError):
        IngestSettings().topic_prefix = "x"  # type: ignore[misc]


def test_each_service_reads_only_its_own_secrets() -> None:
    """A compromised gateway holds no sender secrets, and ingest no token key."""
    env = {"WEBJS_HMAC_SECRET": "w", "TOKEN_SECRET": "t", "DATABASE_URL": "postgresql://h/db"}
    assert not hasattr(GatewaySettings.from_env(env), "webjs_hmac_secret")
    assert not hasattr(IngestSettings.from_env(env), "token_secret")
    assert not hasattr(IngestSettings.from_env(env), "database_url")
    assert not hasattr(WorkerSettings.from_env(env), "database_url")
    assert SinkSettings.from_env(env).database_url == "postgresql://h/db"


def test_carrying_takes_the_shared_values_and_validates_changes() -> None:
    common = DatabaseSettings(kafka_bootstrap="k:1", topic_prefix="p.", database_url="postgres://x")
    sink = SinkSettings.carrying(common, sink_batch_records=7)
    assert (sink.kafka_bootstrap, sink.topic_prefix, sink.database_url) == (
        "k:1",
        "p.",
        common.database_url,
    )
    assert sink.sink_batch_records == 7
    assert sink.replace(sink_batch_ms=5).sink_batch_ms == 5
    with pytest.raises(SettingsError, match="SINK_BATCH_RECORDS"):
        SinkSettings.carrying(common, sink_batch_records=0)


def test_database_url_gets_the_psycopg_driver() -> None:
    assert sqlalchemy_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert sqlalchemy_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert sqlalchemy_url("postgresql+psycopg://u@h/db") == "postgresql+psycopg://u@h/db"


def test_topic_names_take_the_prefix() -> None:
    topics = Topics(prefix="acme.", partitions=8)
    assert topics.ack_events == "acme.ack-events"
    names = [spec.name for spec in topics.all()]
    assert len(names) == len(set(names))
    assert all(name.startswith("acme.") for name in names)
    assert {spec.partitions for spec in topics.all() if spec.key != "none"} == {8}


@given(st.text(min_size=1, max_size=80), st.integers(1, 64))
def test_partition_for_matches_kafkas_default_partitioner(key: str, partitions: int) -> None:
    """aiokafka's murmur2 is the reference implementation of the Java client's rule."""
    expected = (murmur2(key.encode()) & 0x7FFFFFFF) % partitions
    assert partition_for(key, partitions) == expected

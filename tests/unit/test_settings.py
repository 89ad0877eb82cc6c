from __future__ import annotations

import dataclasses

import pytest
from aiokafka.partitioner import murmur2
from hypothesis import given
from hypothesis import strategies as st

from contract.partitioning import partition_for
from contract.settings import Settings, SettingsError, sqlalchemy_url
from contract.topics import Topics


def test_defaults_match_the_spec() -> None:
    settings = Settings.from_env({})
    assert settings.topic_partitions == 8
    assert settings.window_seconds == 1.0
    assert settings.ingest_port == 8090
    assert settings.gateway_port == 8080
    assert settings.public_channels is False


def test_values_are_parsed_by_type() -> None:
    settings = Settings.from_env(
        {"TOPIC_PARTITIONS": "3", "WINDOW_SECONDS": "0.5", "PUBLIC_CHANNELS": "true"}
    )
    assert (settings.topic_partitions, settings.window_seconds, settings.public_channels) == (
        3,
        0.5,
        True,
    )


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("TOPIC_PARTITIONS", "many", "TOPIC_PARTITIONS must be a int"),
        ("PUBLIC_CHANNELS", "perhaps", "PUBLIC_CHANNELS must be true or false"),
        ("WINDOW_SECONDS", "0", "WINDOW_SECONDS must be positive"),
    ],
)
def test_bad_values_name_the_variable(name: str, value: str, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        Settings.from_env({name: value})


def test_settings_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        Settings().topic_prefix = "x"  # type: ignore[misc]


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

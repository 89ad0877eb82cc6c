"""Session-wide real servers and per-test fresh names.

The Kafka broker and the PostgreSQL cluster start once per test session (or the ones named by
``KAFKA_BOOTSTRAP`` / ``DATABASE_URL`` are used); each test gets its own topic prefix, consumer
group and empty database, so tests never see each other's data.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from contract.admin import create_topics
from contract.settings import DatabaseSettings
from contract.topics import Topics
from tickstream.infra.testbed import (
    fresh_database,
    kafka_server,
    postgres_server,
    scratch_directory,
)

START_TIMES: dict[str, str] = {}


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for name, text in START_TIMES.items():
        terminalreporter.write_line(f"{name}: {text}")


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with kafka_server(tmp_path_factory.mktemp("kafka")) as kafka:
        START_TIMES["kafka"] = (
            f"using KAFKA_BOOTSTRAP={kafka.address}"
            if kafka.started_in is None
            else f"real broker (KRaft) started in {kafka.started_in:.1f}s at {kafka.address}"
        )
        yield kafka.address


@pytest.fixture(scope="session")
def postgres_admin_url() -> Iterator[str]:
    """A libpq URL of a database where the tests may CREATE DATABASE."""
    with scratch_directory("tickstream-pg-") as base, postgres_server(base) as postgres:
        START_TIMES["postgres"] = (
            "using DATABASE_URL"
            if postgres.started_in is None
            else f"private cluster started in {postgres.started_in:.1f}s at {postgres.address}"
        )
        yield postgres.address


@pytest.fixture
def unique() -> str:
    return uuid.uuid4().hex[:10]


@pytest.fixture
def topics(kafka_bootstrap: str, unique: str) -> Topics:
    """All of tickstream's topics under a prefix no other test uses, created on the broker."""
    names = Topics(prefix=f"t{unique}-", partitions=4)
    create_topics(kafka_bootstrap, names.all())
    return names


@pytest.fixture
def group_id(unique: str) -> str:
    return f"g{unique}"


@pytest.fixture
def database_url(postgres_admin_url: str, unique: str) -> Iterator[str]:
    """An empty database of its own, dropped after the test; SQLAlchemy (psycopg 3) form."""
    with fresh_database(postgres_admin_url, f"test_{unique}") as url:
        yield url


@pytest.fixture
def settings(kafka_bootstrap: str, database_url: str, topics: Topics) -> DatabaseSettings:
    return DatabaseSettings(
        kafka_bootstrap=kafka_bootstrap,
        database_url=database_url,
        topic_prefix=topics.prefix,
        topic_partitions=topics.partitions,
    )

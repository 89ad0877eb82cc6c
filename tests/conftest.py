"""Session-wide real servers and per-test fresh names.

The Kafka broker and the PostgreSQL cluster start once per test session (or the ones named by
``KAFKA_BOOTSTRAP`` / ``DATABASE_URL`` are used); each test gets its own topic prefix, consumer
group and empty database, so tests never see each other's data.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from contract.admin import create_topics
from contract.settings import Settings, sqlalchemy_url
from contract.topics import Topics
from tickstream.infra import KafkaBroker, PostgresCluster

START_TIMES: dict[str, str] = {}


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for name, text in START_TIMES.items():
        terminalreporter.write_line(f"{name}: {text}")


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    given = os.environ.get("KAFKA_BOOTSTRAP")
    if given:
        START_TIMES["kafka"] = f"using KAFKA_BOOTSTRAP={given}"
        yield given
        return
    broker = KafkaBroker(tmp_path_factory.mktemp("kafka"))
    seconds = broker.start()
    START_TIMES["kafka"] = f"real broker (KRaft) started in {seconds:.1f}s at {broker.bootstrap}"
    try:
        yield broker.bootstrap
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def postgres_admin_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A libpq URL of a database where the tests may CREATE DATABASE."""
    given = os.environ.get("DATABASE_URL")
    if given:
        START_TIMES["postgres"] = "using DATABASE_URL"
        yield given.replace("postgresql+psycopg://", "postgresql://")
        return
    base = Path("/tmp") / f"tickstream-pg-{uuid.uuid4().hex[:8]}"
    cluster = PostgresCluster(base)
    seconds = cluster.start()
    START_TIMES["postgres"] = f"private cluster started in {seconds:.1f}s on port {cluster.port}"
    try:
        yield cluster.url().replace("postgresql+psycopg://", "postgresql://")
    finally:
        cluster.stop()
        import shutil

        shutil.rmtree(base, ignore_errors=True)


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
    name = f"test_{unique}"
    with psycopg.connect(postgres_admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = postgres_admin_url.rpartition("/")
    yield sqlalchemy_url(f"{base}/{name}")
    with psycopg.connect(postgres_admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def settings(kafka_bootstrap: str, database_url: str, topics: Topics) -> Settings:
    return Settings(
        kafka_bootstrap=kafka_bootstrap,
        database_url=database_url,
        topic_prefix=topics.prefix,
        topic_partitions=topics.partitions,
    )

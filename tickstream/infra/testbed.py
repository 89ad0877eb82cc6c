"""The servers one test session or one benchmark run works against: the user's own when
``KAFKA_BOOTSTRAP`` / ``DATABASE_URL`` name them, else private ones started for the run and
stopped after it. Unlike :class:`tickstream.infra.local.LocalInfra`, nothing outlives the run.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from contract.settings import sqlalchemy_url
from tickstream.infra.kafka import KafkaBroker
from tickstream.infra.postgres import PostgresCluster, libpq_url


@dataclass(frozen=True, slots=True)
class Server:
    """Where a server answers; for one started here also its pid (benchmarks charge its CPU time)
    and the seconds it took to start (the test session reports them)."""

    address: str
    pid: int | None = None
    started_in: float | None = None


@contextmanager
def scratch_directory(prefix: str) -> Iterator[Path]:
    """A new directory under /tmp that the ``postgres`` user may enter, removed afterwards: as
    root, the cluster runs as that user, who cannot reach pytest's or ``mkdtemp``'s private
    directories."""
    path = Path(tempfile.mkdtemp(dir="/tmp", prefix=prefix))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@contextmanager
def kafka_server(directory: Path) -> Iterator[Server]:
    """``KAFKA_BOOTSTRAP``, or a broker of its own in ``directory``."""
    given = os.environ.get("KAFKA_BOOTSTRAP")
    if given:
        yield Server(given)
        return
    broker = KafkaBroker(directory)
    try:  # a start that fails (no answer in time) may leave a broker running: stop it too
        seconds = broker.start()
        yield Server(broker.bootstrap, broker.pid(), seconds)
    finally:
        broker.stop()


@contextmanager
def postgres_server(directory: Path) -> Iterator[Server]:
    """The libpq URL of a database where ``CREATE DATABASE`` is allowed: ``DATABASE_URL``, or
    a cluster of its own in ``directory`` (one the ``postgres`` user reaches: see
    :func:`scratch_directory`)."""
    given = os.environ.get("DATABASE_URL")
    if given:
        yield Server(libpq_url(given))
        return
    cluster = PostgresCluster(directory)
    try:  # likewise a cluster whose start failed after pg_ctl launched it
        seconds = cluster.start()
        yield Server(libpq_url(cluster.url()), cluster.pid(), seconds)
    finally:
        cluster.stop()


@dataclass(frozen=True, slots=True)
class Testbed:
    """A broker, a database server and a scratch directory for the run's own files."""

    directory: Path
    kafka: Server
    postgres: Server


@contextmanager
def testbed(prefix: str) -> Iterator[Testbed]:
    """Both servers for a benchmark run (see :func:`kafka_server`, :func:`postgres_server`), the
    private ones living in a scratch directory named with ``prefix``, all gone afterwards."""
    with (
        scratch_directory(prefix) as directory,
        kafka_server(directory / "kafka") as kafka,
        postgres_server(directory / "postgres") as postgres,
    ):
        yield Testbed(directory, kafka, postgres)


@contextmanager
def fresh_database(admin_url: str, name: str) -> Iterator[str]:
    """An empty database ``name`` beside the one of ``admin_url`` (libpq form), dropped
    afterwards, so that runs never see each other's rows; yields its URL in the services' form."""
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield sqlalchemy_url(f"{admin_url.rpartition('/')[0]}/{name}")
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

"""Local infrastructure owned by the project: a single-node KRaft Kafka broker and a private
PostgreSQL cluster, each in a directory of its own, bound to loopback on free ports.

The test fixtures and ``tickstream infra up`` share this code, so what the tests run against is
exactly what a developer gets.
"""

from __future__ import annotations

import base64
import contextlib
import glob
import os
import pwd
import random
import shutil
import signal
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
KAFKA_LIBS = Path(os.environ.get("TICKSTREAM_KAFKA_LIBS", PROJECT_ROOT / ".cache" / "kafka-libs"))


class InfraError(RuntimeError):
    """Something the local infrastructure needs is missing or did not start; says what to do."""


# Servers get ports from here up to the start of the kernel's ephemeral range.
LOWEST_SERVER_PORT = 10_000


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing uses right now, below the kernel's ephemeral range.

    A port from that range (what binding port 0 returns) can be taken by any outgoing connection
    between this check and the server's own bind; a load test opening thousands of connections
    made a broker fail to start with "Address already in use" that way.
    """
    ceiling = _ephemeral_start()
    for _ in range(200):
        port = random.randrange(LOWEST_SERVER_PORT, ceiling)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:  # a crowded machine
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _ephemeral_start() -> int:
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32_768
    return max(low, LOWEST_SERVER_PORT + 1_000)


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _require(binary: str, hint: str) -> str:
    path = shutil.which(binary)
    if path is None:
        raise InfraError(f"{binary} not found: {hint}")
    return path


# --------------------------------------------------------------------------- Kafka


@dataclass(frozen=True, slots=True)
class KafkaBroker:
    """A KRaft broker+controller whose files live in ``directory``."""

    directory: Path

    @property
    def pid_file(self) -> Path:
        return self.directory / "kafka.pid"

    @property
    def port_file(self) -> Path:
        return self.directory / "kafka.port"

    @property
    def log_file(self) -> Path:
        return self.directory / "kafka.log"

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port_file.read_text().strip()}"

    def pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text())
        except (FileNotFoundError, ValueError):
            return None
        return pid if pid_alive(pid) else None

    def start(self, timeout: float = 60.0) -> float:
        """Start the broker, wait until it answers metadata requests; return the seconds it took."""
        _require("java", "install Java 17 (apt-get install openjdk-17-jre-headless)")
        if not any(KAFKA_LIBS.glob("kafka_2.13-*.jar")):
            raise InfraError(
                f"Kafka broker jars missing in {KAFKA_LIBS}: run `make kafka-jars` "
                "(needs Maven: apt-get install maven)"
            )
        started = time.monotonic()
        self.directory.mkdir(parents=True, exist_ok=True)
        port, controller_port = free_port(), free_port()
        data = self.directory / "data"
        props = self.directory / "server.properties"
        props.write_text(
            "\n".join(
                [
                    "process.roles=broker,controller",
                    "node.id=1",
                    f"controller.quorum.voters=1@127.0.0.1:{controller_port}",
                    f"listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
                    f"advertised.listeners=PLAINTEXT://127.0.0.1:{port}",
                    "controller.listener.names=CONTROLLER",
                    "inter.broker.listener.name=PLAINTEXT",
                    "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
                    f"log.dirs={data}",
                    "num.partitions=8",
                    "offsets.topic.replication.factor=1",
                    "offsets.topic.num.partitions=8",
                    "transaction.state.log.replication.factor=1",
                    "transaction.state.log.min.isr=1",
                    "transaction.state.log.num.partitions=4",
                    "group.initial.rebalance.delay.ms=0",
                    "log.cleaner.dedupe.buffer.size=16777216",
                    "auto.create.topics.enable=false",
                    "delete.topic.enable=true",
                    "",
                ]
            )
        )
        log4j = self.directory / "log4j.properties"
        log4j.write_text(
            "log4j.rootLogger=WARN, stdout\n"
            "log4j.appender.stdout=org.apache.log4j.ConsoleAppender\n"
            "log4j.appender.stdout.layout=org.apache.log4j.PatternLayout\n"
            "log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n\n"
            "log4j.logger.kafka=INFO\n"
            "log4j.logger.org.apache.kafka=WARN\n"
        )
        if not (data / "meta.properties").exists():
            subprocess.run(
                [
                    *self._jvm(),
                    "kafka.tools.StorageTool",
                    "format",
                    "-t",
                    _cluster_id(),
                    "-c",
                    str(props),
                ],
                check=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
        self.port_file.write_text(str(port))
        self._launch(timeout)
        return time.monotonic() - started

    def restart(self, timeout: float = 60.0) -> float:
        """Start a stopped broker again on the same ports and data (``server.properties`` is
        kept), so that clients holding its address reconnect: for outage tests.
        """
        if not (self.directory / "server.properties").exists():
            raise InfraError(f"no broker to restart in {self.directory}: call start()")
        started = time.monotonic()
        self._launch(timeout)
        return time.monotonic() - started

    def _jvm(self) -> list[str]:
        java = _require("java", "install Java 17 (apt-get install openjdk-17-jre-headless)")
        log4j = self.directory / "log4j.properties"
        return [
            java,
            "-Xmx768m",
            "-Xms256m",
            "-XX:+UseG1GC",
            # C1 only: on 2 cores, C2 compiling a fresh broker took ~40 % of a core for minutes,
            # taken from the pipeline it serves (docs/operations.md)
            "-XX:TieredStopAtLevel=1",
            "-cp",
            f"{KAFKA_LIBS}/*",
            f"-Dlog4j.configuration=file:{log4j}",
        ]

    def _launch(self, timeout: float) -> None:
        """Run the broker of ``server.properties`` in the background and wait until it answers."""
        with self.log_file.open("ab") as log:
            proc = subprocess.Popen(
                [*self._jvm(), "kafka.Kafka", str(self.directory / "server.properties")],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.pid_file.write_text(str(proc.pid))
        self._wait_ready(proc, timeout)

    def _wait_ready(self, proc: subprocess.Popen[bytes], timeout: float) -> None:
        from confluent_kafka.admin import AdminClient

        admin = AdminClient({"bootstrap.servers": self.bootstrap, "log_level": 0})
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise InfraError(f"Kafka exited with {proc.returncode}; see {self.log_file}")
            try:
                metadata = admin.list_topics(timeout=1.0)
                if metadata.brokers:
                    return
            except Exception:  # the broker is still starting; any failure means "not yet"
                time.sleep(0.2)
        raise InfraError(f"Kafka did not answer within {timeout:.0f}s; see {self.log_file}")

    def stop(self, timeout: float = 30.0) -> bool:
        """Stop the broker (SIGTERM, then SIGKILL); True when one was running."""
        pid = self.pid()
        if pid is None:
            return False
        _terminate(pid, timeout)
        self.pid_file.unlink(missing_ok=True)
        return True


def _cluster_id() -> str:
    """A random KRaft cluster id (22 base64url characters), never starting with ``-``, which
    the storage tool would read as an option."""
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not cluster_id.startswith("-"):
            return cluster_id


def _terminate(pid: int, timeout: float) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        if not pid_alive(pid):
            return
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)


# --------------------------------------------------------------------------- PostgreSQL


def postgres_bindir() -> Path:
    """The directory of Debian's PostgreSQL server binaries (newest version), or of ``initdb``."""
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(Path(p).parent.parent.name),
    )
    if candidates:
        return Path(candidates[-1]).parent
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    raise InfraError("initdb not found: install PostgreSQL (apt-get install postgresql)")


PG_USER = "tickstream"
PG_DATABASE = "tickstream"


@dataclass(frozen=True, slots=True)
class PostgresCluster:
    """A private PostgreSQL cluster in ``directory``, trusting loopback connections only."""

    directory: Path

    @property
    def data(self) -> Path:
        return self.directory / "data"

    @property
    def port_file(self) -> Path:
        return self.directory / "postgres.port"

    @property
    def log_file(self) -> Path:
        return self.directory / "postgres.log"

    @property
    def port(self) -> int:
        return int(self.port_file.read_text().strip())

    def url(self, database: str = PG_DATABASE) -> str:
        return f"postgresql+psycopg://{PG_USER}@127.0.0.1:{self.port}/{database}"

    def _run_as_owner(self, args: list[str], **kwargs: object) -> None:
        """PostgreSQL refuses to run as root; as root, run its tools as the ``postgres`` user."""
        tool = Path(args[0]).name
        if os.geteuid() == 0:
            args = ["runuser", "-u", "postgres", "--", *args]
        try:
            subprocess.run(args, check=True, stderr=subprocess.PIPE, **kwargs)  # type: ignore[call-overload]
        except subprocess.CalledProcessError as exc:
            detail = (exc.stderr or b"").decode(errors="replace").strip() or f"see {self.log_file}"
            hint = (
                " (as root the cluster runs as user postgres, who must be able to reach it)"
                if os.geteuid() == 0
                else ""
            )
            raise InfraError(f"{tool} failed for {self.directory}{hint}: {detail}") from exc

    def pid(self) -> int | None:
        pid_file = self.data / "postmaster.pid"
        try:
            pid = int(pid_file.read_text().splitlines()[0])
        except (FileNotFoundError, ValueError, IndexError, PermissionError):
            return None
        return pid if pid_alive(pid) else None

    def start(self, timeout: float = 60.0) -> float:
        """Create the cluster if needed, start it, create the database; return seconds taken."""
        bindir = postgres_bindir()
        started = time.monotonic()
        self.directory.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            os.chown(self.directory, owner.pw_uid, owner.pw_gid)
            self.directory.chmod(0o755)
        if not (self.data / "PG_VERSION").exists():
            self._run_as_owner(
                [
                    str(bindir / "initdb"),
                    "-D",
                    str(self.data),
                    "-U",
                    PG_USER,
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--no-sync",
                ],
                stdout=subprocess.DEVNULL,
            )
        port = free_port()
        self.port_file.write_text(str(port))
        options = (
            f"-p {port} -h 127.0.0.1 -k {self.directory} -c fsync=on "
            "-c max_connections=200 -c shared_buffers=256MB -c synchronous_commit=on"
        )
        self._run_as_owner(
            [
                str(bindir / "pg_ctl"),
                "-D",
                str(self.data),
                "-l",
                str(self.log_file),
                "-o",
                options,
                "-w",
                "-t",
                str(int(timeout)),
                "start",
            ],
            stdout=subprocess.DEVNULL,
        )
        self._create_database(PG_DATABASE)
        return time.monotonic() - started

    def _create_database(self, name: str) -> None:
        import psycopg

        with psycopg.connect(
            f"host=127.0.0.1 port={self.port} user={PG_USER} dbname=postgres", autocommit=True
        ) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (name,)
            ).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{name}"')

    def stop(self) -> bool:
        """Stop the cluster (fast shutdown); True when one was running."""
        if self.pid() is None:
            return False
        self._run_as_owner(
            [str(postgres_bindir() / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"],
            stdout=subprocess.DEVNULL,
        )
        return True

    def start_again(self, timeout: float = 60.0) -> None:
        """Start a stopped cluster with the options (and port) of its last run, so that clients'
        URLs stay valid: fault tests restart PostgreSQL under a running service."""
        import shlex

        # postmaster.opts: the server binary, "-D" "<data>", then the options given at start.
        words = shlex.split((self.data / "postmaster.opts").read_text())[1:]
        data_at = words.index("-D")
        options = shlex.join(words[:data_at] + words[data_at + 2 :])
        self._run_as_owner(
            [
                str(postgres_bindir() / "pg_ctl"),
                "-D",
                str(self.data),
                "-l",
                str(self.log_file),
                "-o",
                options,
                "-w",
                "-t",
                str(int(timeout)),
                "start",
            ],
            stdout=subprocess.DEVNULL,
        )


# --------------------------------------------------------------------------- the pair


@dataclass(frozen=True, slots=True)
class LocalInfra:
    """The broker and the cluster of one state directory (``.tickstream`` by default)."""

    state_dir: Path

    @property
    def kafka(self) -> KafkaBroker:
        return KafkaBroker(self.state_dir / "kafka")

    @property
    def postgres(self) -> PostgresCluster:
        return PostgresCluster(self.state_dir / "postgres")

    @property
    def env_file(self) -> Path:
        return self.state_dir / "env"

    def up(self) -> dict[str, float]:
        """Start whatever is not running yet and write ``env``; return start-up seconds."""
        timings: dict[str, float] = {}
        if self.kafka.pid() is None:
            timings["kafka"] = self.kafka.start()
        if self.postgres.pid() is None:
            timings["postgres"] = self.postgres.start()
        self.env_file.write_text(
            f"KAFKA_BOOTSTRAP={self.kafka.bootstrap}\nDATABASE_URL={self.postgres.url()}\n"
        )
        return timings

    def down(self) -> list[str]:
        stopped = []
        if self.kafka.stop():
            stopped.append("kafka")
        if self.postgres.stop():
            stopped.append("postgres")
        self.env_file.unlink(missing_ok=True)
        return stopped

    def status(self) -> dict[str, str]:
        kafka_pid, pg_pid = self.kafka.pid(), self.postgres.pid()
        return {
            "kafka": f"running (pid {kafka_pid}) at {self.kafka.bootstrap}"
            if kafka_pid
            else "stopped",
            "postgres": f"running (pid {pg_pid}) at {self.postgres.url()}" if pg_pid else "stopped",
        }

    def read_env(self) -> dict[str, str]:
        """The addresses ``up`` wrote, for processes started later."""
        if not self.env_file.exists():
            return {}
        pairs = (
            line.split("=", 1) for line in self.env_file.read_text().splitlines() if "=" in line
        )
        return {key: value for key, value in pairs}


def default_state_dir() -> Path:
    return Path(os.environ.get("TICKSTREAM_HOME", PROJECT_ROOT / ".tickstream"))

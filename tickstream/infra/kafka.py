"""A single-node KRaft Kafka broker in a directory of its own, bound to loopback on free ports."""

from __future__ import annotations

import base64
import os
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from tickstream.infra.ports import free_port
from tickstream.infra.processes import (
    InfraError,
    keep_running,
    pid_alive,
    require_binary,
    stop_process_group,
)
from tickstream.state_dir import PROJECT_ROOT

KAFKA_LIBS = Path(os.environ.get("TICKSTREAM_KAFKA_LIBS", PROJECT_ROOT / ".cache" / "kafka-libs"))


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
        java = require_binary("java", "install Java 17 (apt-get install openjdk-17-jre-headless)")
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
        keep_running(proc)
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
        stop_process_group(pid, timeout)
        self.pid_file.unlink(missing_ok=True)
        return True


def _cluster_id() -> str:
    """A random KRaft cluster id (22 base64url characters), never starting with ``-``, which
    the storage tool would read as an option."""
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not cluster_id.startswith("-"):
            return cluster_id

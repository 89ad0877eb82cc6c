"""The broker and the cluster of ``tickstream infra up``: they live in the state directory and
outlive the command, so that every later command (and ``tickstream up``) finds and reuses them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tickstream.infra.kafka import KafkaBroker
from tickstream.infra.postgres import PostgresCluster
from tickstream.state_dir import infra_env_file, read_env_file, write_env_file


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
        return infra_env_file(self.state_dir)

    def up(self) -> dict[str, float]:
        """Start whatever is not running yet and write ``env``; return start-up seconds."""
        timings: dict[str, float] = {}
        if self.kafka.pid() is None:
            timings["kafka"] = self.kafka.start()
        if self.postgres.pid() is None:
            timings["postgres"] = self.postgres.start()
        write_env_file(
            self.env_file,
            {"KAFKA_BOOTSTRAP": self.kafka.bootstrap, "DATABASE_URL": self.postgres.url()},
            "addresses of the servers of `tickstream infra up` (removed by `infra down`)",
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
        return read_env_file(self.env_file)

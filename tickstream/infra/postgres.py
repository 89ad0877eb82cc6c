"""A private PostgreSQL cluster in a directory of its own, bound to loopback on a free port."""

from __future__ import annotations

import glob
import os
import pwd
import shlex
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from tickstream.infra.ports import free_port
from tickstream.infra.processes import InfraError, pid_alive

PG_USER = "tickstream"
PG_DATABASE = "tickstream"


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


def libpq_url(url: str) -> str:
    """A PostgreSQL URL in the form psycopg's own ``connect`` takes: the services' settings name
    the driver for SQLAlchemy (``postgresql+psycopg://``), libpq does not know that scheme."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


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
        self._pg_ctl_start(
            f"-p {port} -h 127.0.0.1 -k {self.directory} -c fsync=on "
            "-c max_connections=200 -c shared_buffers=256MB -c synchronous_commit=on",
            timeout,
        )
        self._create_database(PG_DATABASE)
        return time.monotonic() - started

    def start_again(self, timeout: float = 60.0) -> None:
        """Start a stopped cluster with the options (and port) of its last run, so that clients'
        URLs stay valid: fault tests restart PostgreSQL under a running service."""
        # postmaster.opts: the server binary, "-D" "<data>", then the options given at start.
        words = shlex.split((self.data / "postmaster.opts").read_text())[1:]
        data_at = words.index("-D")
        self._pg_ctl_start(shlex.join(words[:data_at] + words[data_at + 2 :]), timeout)

    def _pg_ctl_start(self, options: str, timeout: float) -> None:
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

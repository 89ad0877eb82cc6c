"""``tickstream up`` as a user runs it: nothing configured, a fresh state directory. It starts the
broker, the cluster and the four services, a simulated campaign through the real webhooks ends
with the oracle's totals at the gateway, and SIGTERM leaves no process behind."""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.auth import issue_token
from tickstream.infra.dev_secrets import DEV_SECRETS
from tickstream.infra.ports import free_port
from tickstream.state_dir import read_env_file

pytestmark = pytest.mark.integration

TICKSTREAM = [sys.executable, "-m", "tickstream"]


def children_of(pid: int) -> list[int]:
    """Every live process whose parent is ``pid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        if int(fields[1]) == pid:
            found.append(int(entry.name))
    return found


def running(pid: int) -> bool:
    """Alive and not a zombie waiting for its parent to reap it."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state != "Z"


def wait_for_line(proc: subprocess.Popen[str], needle: str, timeout: float) -> str:
    seen = []
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    os.set_blocking(proc.stdout.fileno(), False)
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line:
            seen.append(line)
            if needle in line:
                return "".join(seen)
        elif proc.poll() is not None:
            break
        else:
            time.sleep(0.1)
    raise AssertionError(f"no {needle!r} within {timeout}s; output:\n{''.join(seen)}")


def expected_table(output: str) -> dict[str, list[int]]:
    """The simulator's printed oracle: campaign -> total, sent, delivered, read, played, failed,
    skipped."""
    rows = {}
    for line in output.splitlines():
        parts = line.split()
        if parts and parts[0].startswith("sim-") and len(parts) == 9:
            rows[parts[0]] = [int(x) for x in parts[1:8]]
    return rows


@pytest.fixture
def home() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="tickstream-up-", dir="/tmp"))
    path.chmod(0o755)  # PostgreSQL runs as user postgres when we are root
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_up_runs_everything_and_sigterm_stops_it(home: Path) -> None:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"KAFKA_BOOTSTRAP", "DATABASE_URL", *DEV_SECRETS, "PUBLIC_BASE_URL"}
    }
    ports = {name: free_port() for name in ("INGEST", "GATEWAY", "SINK", "WORKER", "WEBHOOKS")}
    env.update({f"{name}_PORT": str(port) for name, port in ports.items()})
    env.update(TICKSTREAM_HOME=str(home), WINDOW_SECONDS="0.5", LOG_LEVEL="WARNING")
    up = subprocess.Popen(
        [*TICKSTREAM, "up"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    kafka_pid = postgres_pid = None
    try:
        banner = wait_for_line(up, "stop: Ctrl-C", timeout=240)
        secrets = read_env_file(home / "dev-secrets.env")
        assert set(DEV_SECRETS) <= set(secrets)
        assert stat.S_IMODE((home / "dev-secrets.env").stat().st_mode) == 0o600
        for name in ("WEBJS_HMAC_SECRET", "WAHA_HMAC_KEY", "EVOLUTION_TOKEN", "META_APP_SECRET"):
            assert f"{name}={secrets[name]}" in banner
        assert f"http://127.0.0.1:{ports['INGEST']}/webhooks/twilio" in banner
        assert f"http://127.0.0.1:{ports['GATEWAY']}/?token=" in banner
        services = children_of(up.pid)
        kafka_pid = int((home / "kafka" / "kafka.pid").read_text())
        postgres_pid = int((home / "postgres" / "data" / "postmaster.pid").read_text().split()[0])

        # a second terminal: only TICKSTREAM_HOME is shared, ports and secrets come from it
        sim_env = {k: v for k, v in env.items() if not k.endswith("_PORT")}
        sim = subprocess.run(
            [
                *TICKSTREAM,
                "simulate",
                "--campaigns",
                "2",
                "--recipients",
                "150",
                "--duration",
                "3",
                "--delay-scale",
                "0.1",
                "--seed",
                "11",
                "--verify",
                "--timeout",
                "120",
                "--quiet",
            ],
            env=sim_env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert sim.returncode == 0, sim.stdout + sim.stderr
        assert "verified" in sim.stdout
        expected = expected_table(sim.stdout)
        assert len(expected) == 2

        # ask the gateway ourselves, with a token of the development secret
        token = issue_token(secrets["TOKEN_SECRET"], "1", ttl_seconds=600)
        for campaign_id, (
            total,
            sent,
            delivered,
            read,
            played,
            failed,
            skipped,
        ) in expected.items():
            request = urllib.request.Request(
                f"http://127.0.0.1:{ports['GATEWAY']}/api/campaigns/{campaign_id}",
                headers={"Authorization": f"Bearer {token}"},
            )
            with urllib.request.urlopen(request, timeout=10) as response:
                stats = json.load(response)["statistics"]
            assert stats["total_message_count"] == total
            assert [
                stats["total_sent_count"],
                stats["total_delivered_count"],
                stats["total_read_count"],
                stats["total_played_count"],
                stats["total_failed_count"],
                stats["skipped_count"],
            ] == [sent, delivered, read, played, failed, skipped]
    finally:
        up.send_signal(signal.SIGTERM)
        try:
            rest = up.communicate(timeout=120)[0]
        except subprocess.TimeoutExpired:
            up.kill()
            up.communicate()  # reap it and close its stdout pipe before failing
            raise
    assert up.returncode == 0, rest
    assert "stopped (and kafka, postgres)" in rest
    assert len(services) >= 4
    watched = [pid for pid in [*services, kafka_pid, postgres_pid] if pid]
    deadline = time.monotonic() + 10  # an exited process may take a moment to be reaped
    while (leftovers := [pid for pid in watched if running(pid)]) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert leftovers == []
    assert not (home / "services.env").exists()

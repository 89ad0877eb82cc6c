"""``tickstream up``: the whole pipeline on one machine, supervised until Ctrl-C or SIGTERM.

Local infrastructure (unless ``KAFKA_BOOTSTRAP`` and ``DATABASE_URL`` are set), topics, migrations,
then the services as child processes with a development configuration. Each child runs in a
session of its own, so a Ctrl-C in the terminal reaches only this supervisor, which then stops
the children in a known order and waits for them: nothing is left behind. Infrastructure this run
started is stopped too (``--keep-infra`` leaves it running for a faster next start); infrastructure
that was already running is left as it was.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from ingest.settings import IngestSettings
from tickstream.deployment import Deployment
from tickstream.infra.dev_secrets import dev_secrets
from tickstream.infra.local import LocalInfra
from tickstream.state_dir import default_state_dir, services_file, write_env_file

# (name shown to users, package run with ``python -m``, its HTTP port in a deployment's settings)
SERVICES: tuple[tuple[str, str, Callable[[Deployment], int]], ...] = (
    ("ingest", "ingest", lambda settings: settings.ingest.ingest_port),
    ("worker", "streams", lambda settings: settings.worker.worker_port),
    ("sink", "sink", lambda settings: settings.sink.sink_port),
    ("gateway", "gateway", lambda settings: settings.gateway.gateway_port),
    ("webhooks", "webhooks", lambda settings: settings.webhooks.webhooks_port),
)
DEMO_WORKSPACE = "1"
# the printed dashboard link lasts a working day; `tickstream token` issues more
DASHBOARD_LINK_SECONDS = 12 * 3600
INFRA = ("kafka", "postgres")  # the LocalInfra members up may start


class StackError(RuntimeError):
    """A service exited or never became healthy; the message names it and shows its log."""


@dataclass(slots=True)
class Child:
    name: str
    argv: list[str]
    log: Path
    port: int | None = None
    required: bool = True
    proc: subprocess.Popen[bytes] | None = None

    def exited(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log.read_text(errors="replace").splitlines()
        except FileNotFoundError:
            return "(no log)"
        return "\n".join(text[-lines:])


@dataclass(slots=True)
class Stack:
    """Child processes sharing one environment, each logging to ``log_dir/<name>.log``."""

    env: Mapping[str, str]
    log_dir: Path
    children: list[Child] = field(default_factory=list)

    @classmethod
    def services(cls, env: Mapping[str, str], log_dir: Path) -> Stack:
        settings = Deployment.from_env(env)
        stack = cls(env, log_dir)
        for name, package, port_of in SERVICES:
            stack.add(name, [sys.executable, "-m", package], port_of(settings))
        return stack

    def add(
        self, name: str, argv: list[str], port: int | None = None, required: bool = True
    ) -> Child:
        child = Child(name, argv, self.log_dir / f"{name}.log", port, required)
        self.children.append(child)
        return child

    def start(self, child: Child | None = None) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        for item in [child] if child else self.children:
            if item.proc is not None:
                continue
            with item.log.open("ab") as out:
                item.proc = subprocess.Popen(
                    item.argv,
                    env=dict(self.env),
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,
                )

    def failed(self) -> Child | None:
        """A required child that exited (whatever its code: services only stop when told)."""
        return next((c for c in self.children if c.required and c.exited() is not None), None)

    def wait_healthy(self, timeout: float, stopping: threading.Event | None = None) -> None:
        deadline = time.monotonic() + timeout
        waiting = [c for c in self.children if c.port is not None]
        while waiting:
            if stopping is not None and stopping.is_set():
                raise StackError("stopped while starting")
            dead = self.failed()
            if dead is not None:
                raise StackError(
                    f"{dead.name} exited with {dead.exited()} while starting; "
                    f"last lines of {dead.log}:\n{dead.log_tail()}"
                )
            waiting = [c for c in waiting if not healthy(c.port or 0)]
            if waiting and time.monotonic() > deadline:
                names = ", ".join(c.name for c in waiting)
                raise StackError(f"not healthy within {timeout:.0f}s: {names} (see {self.log_dir})")
            if waiting:
                time.sleep(0.3)

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM every child's process group, wait, then SIGKILL what is left."""
        running = [c for c in self.children if c.proc is not None and c.proc.poll() is None]
        for child in running:
            assert child.proc is not None
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for child in running:
            assert child.proc is not None
            try:
                child.proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.proc.pid, signal.SIGKILL)
                child.proc.wait()


def healthy(port: int, path: str = "/healthz") -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def dev_environment(
    environ: Mapping[str, str], infra_env: Mapping[str, str], state_dir: Path
) -> dict[str, str]:
    """The environment of every child: the user's variables first, then the local
    infrastructure's addresses and the development secrets; always bound to loopback."""
    env = dict(environ)
    for key, value in infra_env.items():
        env.setdefault(key, value)
    env.update(dev_secrets(state_dir, environ))
    env["BIND_HOST"] = "127.0.0.1"
    ingest_port = env.get("INGEST_PORT") or str(IngestSettings().ingest_port)
    env.setdefault("PUBLIC_BASE_URL", f"http://127.0.0.1:{ingest_port}")
    env.setdefault("WORKER_DATA_DIR", str(state_dir / "worker"))
    env.setdefault("STATE_DIR", str(state_dir / "state"))
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def banner(settings: Deployment, token: str, log_dir: Path) -> str:
    """What a developer needs to point providers, a browser and Laravel Echo at the stack."""
    ingest = f"http://127.0.0.1:{settings.ingest.ingest_port}"
    gateway = f"http://127.0.0.1:{settings.gateway.gateway_port}"
    rows = [
        (
            "webjs (Node service)",
            "/api/whatsapp/webhooks/webjs",
            f"WEBJS_HMAC_SECRET={settings.ingest.webjs_hmac_secret}",
        ),
        ("WAHA", "/webhooks/waha", f"WAHA_HMAC_KEY={settings.ingest.waha_hmac_key}"),
        (
            "Evolution API",
            "/webhooks/evolution",
            f"EVOLUTION_TOKEN={settings.ingest.evolution_token}",
        ),
        (
            "Meta Cloud API",
            "/webhooks/meta",
            f"META_APP_SECRET={settings.ingest.meta_app_secret} "
            f"META_VERIFY_TOKEN={settings.ingest.meta_verify_token}",
        ),
        ("Twilio", "/webhooks/twilio", f"TWILIO_AUTH_TOKEN={settings.ingest.twilio_auth_token}"),
        (
            "own API (/v1/*)",
            "/v1/events",
            f"Bearer INGEST_API_TOKEN={settings.ingest.ingest_api_token}",
        ),
    ]
    lines = [
        "",
        "tickstream is up.",
        f"  dashboard (workspace {DEMO_WORKSPACE}): {gateway}/?token={token}",
        f"  REST: {gateway}/api/campaigns   WebSocket: ws://127.0.0.1:{settings.gateway.gateway_port}/ws",
        f"  Laravel Echo: broadcaster 'pusher', key '{settings.gateway.pusher_app_key}', "
        f"wsHost '127.0.0.1', wsPort {settings.gateway.gateway_port}, forceTLS false, "
        f"PUSHER_APP_SECRET={settings.gateway.pusher_app_secret}",
        "  webhooks:",
        *(f"    {name:22} {ingest}{path}   {secret}" for name, path, secret in rows),
        f"  Twilio signs against PUBLIC_BASE_URL={settings.ingest.public_base_url}",
        f"  metrics: ingest :{settings.ingest.ingest_port}, worker :{settings.worker.worker_port}, "
        f"sink :{settings.sink.sink_port}, gateway :{settings.gateway.gateway_port}, "
        f"webhooks :{settings.webhooks.webhooks_port} (/metrics, /healthz)",
        f"  outbound webhooks: tickstream webhook add --workspace {DEMO_WORKSPACE} --url … "
        "--events campaign.completed,campaign.statistics",
        f"  logs: {log_dir}/<service>.log",
        "  drive it: tickstream simulate --verify      stop: Ctrl-C",
        "",
    ]
    return "\n".join(lines)


def _stop_on_signals(stopping: threading.Event) -> None:
    def handler(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def run(args: argparse.Namespace) -> int:
    """``tickstream up [--demo] [--keep-infra]``."""
    from contract.admin import create_topics
    from contract.topics import Topics
    from gateway.auth import issue_token
    from sink.migrate import upgrade

    stopping = threading.Event()
    _stop_on_signals(stopping)
    state_dir = default_state_dir()
    infra = LocalInfra(state_dir)
    local = not (os.environ.get("KAFKA_BOOTSTRAP") and os.environ.get("DATABASE_URL"))
    running_before = {name for name in INFRA if local and getattr(infra, name).pid()}
    stack: Stack | None = None
    try:
        infra_env: dict[str, str] = {}
        if local:
            timings = infra.up()
            for name, seconds in timings.items():
                print(f"{name} started in {seconds:.1f}s", flush=True)
            infra_env = infra.read_env()
        env = dev_environment(os.environ, infra_env, state_dir)
        settings = Deployment.from_env(env)
        create_topics(settings.ingest.kafka_bootstrap, Topics.from_settings(settings.worker).all())
        upgrade(settings.sink.database_url)
        print("topics created, database schema at the newest migration", flush=True)
        write_env_file(
            services_file(state_dir),
            {
                "INGEST_PORT": str(settings.ingest.ingest_port),
                "GATEWAY_PORT": str(settings.gateway.gateway_port),
                "PUBLIC_BASE_URL": settings.ingest.public_base_url,
            },
            "addresses of the running `tickstream up` (removed when it stops)",
        )
        stack = Stack.services(env, state_dir / "logs")
        stack.start()
        stack.wait_healthy(args.timeout, stopping)
        token = issue_token(
            settings.gateway.token_secret, DEMO_WORKSPACE, ttl_seconds=DASHBOARD_LINK_SECONDS
        )
        print(banner(settings, token, stack.log_dir), flush=True)
        if args.demo:
            demo = stack.add("demo", _demo_argv(), required=False)
            stack.start(demo)
            print(f"demo campaigns running (log: {demo.log})", flush=True)
        while not stopping.wait(0.5):
            dead = stack.failed()
            if dead is not None:
                print(
                    f"{dead.name} exited with {dead.exited()}; last lines of {dead.log}:\n"
                    f"{dead.log_tail()}\nstopping everything",
                    file=sys.stderr,
                )
                return 1
        print("stopping…", flush=True)
        return 0
    except StackError as exc:
        if stopping.is_set():
            return 0
        print(f"tickstream up: {exc}", file=sys.stderr)
        return 1
    finally:
        if stack is not None:
            stack.stop()
        services_file(state_dir).unlink(missing_ok=True)
        started = [
            n for n in INFRA if local and n not in running_before and getattr(infra, n).pid()
        ]
        if started and not args.keep_infra:
            for name in started:
                getattr(infra, name).stop()
            infra.env_file.unlink(missing_ok=True)
        print(
            "stopped" + (f" (and {', '.join(started)})" if started and not args.keep_infra else "")
        )


def _demo_argv() -> list[str]:
    return [
        sys.executable,
        "-m",
        "tickstream",
        "simulate",
        "--campaigns",
        "3",
        "--recipients",
        "3000",
        "--duration",
        "120",
        "--workspace",
        DEMO_WORKSPACE,
    ]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--demo", action="store_true", help="also run simulated campaigns")
    parser.add_argument(
        "--keep-infra",
        action="store_true",
        help="leave the Kafka broker and PostgreSQL this run started running (faster next start)",
    )
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for health")

"""The ``tickstream`` command hands a service its own flags and the local infrastructure's
addresses but never a development secret, and signs tokens with the development secret when
nothing else is configured."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.auth import verify_token
from ingest.settings import IngestSettings
from tickstream.cli import SERVICES, main
from tickstream.infra.dev_secrets import DEV_SECRETS
from tickstream.state_dir import (
    PROJECT_ROOT,
    infra_env_file,
    secrets_file,
    services_file,
    write_env_file,
)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty state directory, and an environment of the test's own (what the command fills
    in goes with it) without the caller's tickstream variables."""
    caller = ("TOKEN_SECRET", "KAFKA_BOOTSTRAP", "DATABASE_URL", *DEV_SECRETS)
    own = {name: value for name, value in os.environ.items() if name not in caller}
    monkeypatch.setattr(os, "environ", {**own, "TICKSTREAM_HOME": str(tmp_path)})
    return tmp_path


def test_a_service_gets_its_own_flags(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["sink", "--help"])
    assert exited.value.code == 0
    assert "--migrate" in capsys.readouterr().out  # the sink's own parser answered


def test_a_service_without_flags_refuses_them_clearly(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["worker", "--partitions", "4"]) == 2
    assert "tickstream worker takes no flags (got --partitions 4)" in capsys.readouterr().err


def test_other_commands_refuse_unknown_flags(home: Path) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["topics", "create", "--bogus"])
    assert exited.value.code == 2


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_a_service_run_by_hand_gets_addresses_but_no_development_secret(
    home: Path, monkeypatch: pytest.MonkeyPatch, service: str
) -> None:
    """Outside ``tickstream up`` an unset secret stays unset, so the service refuses what needs
    it (ingest answers 403 naming the setting), as in production."""
    write_env_file(secrets_file(home), {name: f"dev-{name}" for name in DEV_SECRETS}, "test")
    infra = {"KAFKA_BOOTSTRAP": "127.0.0.1:1", "DATABASE_URL": "postgresql://127.0.0.1:1/x"}
    write_env_file(infra_env_file(home), infra, "test")
    write_env_file(services_file(home), {"PUBLIC_BASE_URL": "http://127.0.0.1:8090"}, "test")
    seen: dict[str, str] = {}

    def started(*options: str) -> int:  # stands for the service's main: what it would read
        seen.update(os.environ)
        return 0

    module = importlib.import_module(f"{SERVICES[service]}.__main__")
    monkeypatch.setattr(module, "main", started)
    assert main([service]) == 0
    assert {name: seen.get(name) for name in infra} == infra
    assert seen["PUBLIC_BASE_URL"] == "http://127.0.0.1:8090"
    assert [name for name in DEV_SECRETS if name in seen] == []
    settings = IngestSettings.from_env(seen)
    assert (settings.ingest_api_token, settings.webjs_hmac_secret) == ("", "")


def test_a_secret_the_user_set_reaches_the_service(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_env_file(secrets_file(home), {"INGEST_API_TOKEN": "dev-token"}, "test")
    os.environ["INGEST_API_TOKEN"] = "operator-token"
    seen: dict[str, str] = {}
    monkeypatch.setattr(
        importlib.import_module("ingest.__main__"), "main", lambda: seen.update(os.environ) or 0
    )
    assert main(["ingest"]) == 0
    assert seen["INGEST_API_TOKEN"] == "operator-token"


def test_token_is_signed_with_the_development_secret(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_env_file(secrets_file(home), {"TOKEN_SECRET": "dev-secret-for-test"}, "test")
    assert main(["token", "--workspace", "7"]) == 0
    token = capsys.readouterr().out.strip()
    assert verify_token("dev-secret-for-test", token).workspace == "7"


def test_the_environment_secret_wins(
    home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    write_env_file(secrets_file(home), {"TOKEN_SECRET": "dev-secret-for-test"}, "test")
    os.environ["TOKEN_SECRET"] = "operator-secret"
    assert main(["token", "--workspace", "9", "--ttl", "60"]) == 0
    assert verify_token("operator-secret", capsys.readouterr().out.strip()).workspace == "9"


def test_token_without_any_secret_says_so(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["token", "--workspace", "7"]) == 2
    assert "TOKEN_SECRET is not set" in capsys.readouterr().err


# Runs in a fresh interpreter with the modules named in argv[1] made unimportable, as they are in
# the production image; prints each command's exit code (a SystemExit's message stands for it).
WITHOUT_MODULES = """
import json, sys
for name in sys.argv[1].split(","):
    sys.modules[name] = None
from tickstream.cli import main
codes = []
for argv in json.loads(sys.argv[2]):
    try:
        codes.append(main(argv))
    except SystemExit as exc:
        codes.append(exc.code)
print(json.dumps(codes))
"""


def left_out_of_the_image() -> list[str]:
    """The tickstream modules .dockerignore keeps out of the production image."""
    entries = (PROJECT_ROOT / ".dockerignore").read_text().splitlines()
    return [e.removesuffix(".py").replace("/", ".") for e in entries if e.startswith("tickstream/")]


def test_the_image_leaves_the_development_tools_out() -> None:
    left_out = set(left_out_of_the_image())
    assert {"tickstream.bench", "tickstream.infra", "tickstream.simulator"} <= left_out
    assert "tickstream.cli" not in left_out


def test_production_commands_run_without_the_development_tools(tmp_path: Path) -> None:
    commands = [
        ["--help"],
        ["token", "--workspace", "7"],
        ["topics", "create"],  # no broker configured: says so and exits 2
        ["db", "upgrade"],  # no database configured: likewise
        ["sink", "--help"],
        *([name, "--bogus"] for name in ("ingest", "worker", "gateway")),  # flags refused: 2
        ["simulate"],  # a development tool: a clear message instead of a traceback
    ]
    env = {k: v for k, v in os.environ.items() if k not in {"KAFKA_BOOTSTRAP", "DATABASE_URL"}}
    env.update(TICKSTREAM_HOME=str(tmp_path), TOKEN_SECRET="a-token-secret-of-at-least-32-bytes")
    blocked = ",".join(left_out_of_the_image())
    run = subprocess.run(
        [sys.executable, "-c", WITHOUT_MODULES, blocked, json.dumps(commands)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    codes = json.loads(run.stdout.splitlines()[-1])
    assert codes[:-1] == [0, 0, 2, 2, 0, 2, 2, 2], run.stderr
    assert "development tool" in codes[-1]

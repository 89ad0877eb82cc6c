"""The ``tickstream`` command hands a service its own flags and signs tokens with the development
secret when nothing else is configured."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.auth import verify_token
from tickstream.cli import main
from tickstream.state_dir import PROJECT_ROOT, secrets_file, write_env_file


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty state directory and no tickstream variables from the caller's environment."""
    monkeypatch.setenv("TICKSTREAM_HOME", str(tmp_path))
    for name in ("TOKEN_SECRET", "KAFKA_BOOTSTRAP", "DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
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
    monkeypatch.setenv("TOKEN_SECRET", "operator-secret")
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

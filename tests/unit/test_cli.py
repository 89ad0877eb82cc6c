"""The ``tickstream`` command hands a service its own flags and signs tokens with the development
secret when nothing else is configured."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.auth import verify_token
from tickstream.cli import main
from tickstream.devenv import secrets_file, write_env_file


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
    assert verify_token("dev-secret-for-test", token) == "7"


def test_the_environment_secret_wins(
    home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    write_env_file(secrets_file(home), {"TOKEN_SECRET": "dev-secret-for-test"}, "test")
    monkeypatch.setenv("TOKEN_SECRET", "operator-secret")
    assert main(["token", "--workspace", "9", "--ttl", "60"]) == 0
    assert verify_token("operator-secret", capsys.readouterr().out.strip()) == "9"


def test_token_without_any_secret_says_so(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["token", "--workspace", "7"]) == 2
    assert "TOKEN_SECRET is not set" in capsys.readouterr().err

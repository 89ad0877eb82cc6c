"""The development configuration of ``tickstream up``: secrets made once and reused, the user's
variables winning, loopback only, and a banner that tells each provider where and how to call."""

from __future__ import annotations

import stat
from pathlib import Path

from tickstream.deployment import Deployment
from tickstream.infra.dev_secrets import DEV_SECRETS, dev_secrets
from tickstream.state_dir import load_dev_env, read_env_file, services_file
from tickstream.up import banner, dev_environment


def test_secrets_are_generated_once_and_reused(tmp_path: Path) -> None:
    first = dev_secrets(tmp_path, {})
    assert set(first) == set(DEV_SECRETS)
    assert all(len(value) >= 24 for value in first.values())
    assert len(set(first.values())) == len(DEV_SECRETS)
    assert stat.S_IMODE((tmp_path / "dev-secrets.env").stat().st_mode) == 0o600
    assert dev_secrets(tmp_path, {}) == first


def test_the_environment_wins_and_is_not_written(tmp_path: Path) -> None:
    given = dev_secrets(tmp_path, {"TOKEN_SECRET": "mine"})
    assert given["TOKEN_SECRET"] == "mine"
    assert read_env_file(tmp_path / "dev-secrets.env")["TOKEN_SECRET"] != "mine"


def test_children_bind_loopback_and_sign_twilio_against_ingest(tmp_path: Path) -> None:
    env = dev_environment(
        {"BIND_HOST": "0.0.0.0", "INGEST_PORT": "9999", "WEBJS_HMAC_SECRET": "s"},
        {"KAFKA_BOOTSTRAP": "127.0.0.1:1", "DATABASE_URL": "postgresql://x"},
        tmp_path,
    )
    settings = Deployment.from_env(env).ingest
    assert settings.bind_host == "127.0.0.1"
    assert settings.public_base_url == "http://127.0.0.1:9999"
    assert settings.webjs_hmac_secret == "s"
    assert settings.kafka_bootstrap == "127.0.0.1:1"
    assert all(env[name] for name in DEV_SECRETS)


def test_a_second_terminal_finds_ports_and_secrets(tmp_path: Path) -> None:
    secrets = dev_secrets(tmp_path, {})
    services_file(tmp_path).write_text("INGEST_PORT=18090\nGATEWAY_PORT=18080\n")
    env = {"GATEWAY_PORT": "7000"}
    load_dev_env(tmp_path, env)
    assert env["INGEST_PORT"] == "18090"
    assert env["GATEWAY_PORT"] == "7000"  # set by the user: kept
    assert env["META_APP_SECRET"] == secrets["META_APP_SECRET"]


def test_banner_names_every_webhook_with_its_secret(tmp_path: Path) -> None:
    settings = Deployment.from_env(
        {
            "INGEST_PORT": "8090",
            "GATEWAY_PORT": "8080",
            "WEBJS_HMAC_SECRET": "w1",
            "WAHA_HMAC_KEY": "w2",
            "EVOLUTION_TOKEN": "e3",
            "META_APP_SECRET": "m4",
            "META_VERIFY_TOKEN": "m5",
            "TWILIO_AUTH_TOKEN": "t6",
            "INGEST_API_TOKEN": "a7",
            "PUSHER_APP_SECRET": "p8",
        }
    )
    text = banner(settings, "TOKEN", tmp_path)
    assert "http://127.0.0.1:8080/?token=TOKEN" in text
    for path, secret in [
        ("webjs", "w1"),
        ("waha", "w2"),
        ("evolution", "e3"),
        ("meta", "m4"),
        ("meta", "m5"),
        ("twilio", "t6"),
    ]:
        line = next(line for line in text.splitlines() if f"/webhooks/{path} " in line)
        assert secret in line
    assert "a7" in text and "p8" in text

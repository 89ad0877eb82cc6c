"""The development configuration ``tickstream up`` gives its services, kept in the state directory
so that a second terminal (``tickstream simulate``, ``tickstream token``) uses the same secrets
and ports without the user copying anything.

``dev-secrets.env`` is generated once and reused, so provider test set-ups and dashboard links
keep working across restarts; ``services.env`` holds the addresses of the running ``up`` and is
removed when it stops.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping, MutableMapping
from pathlib import Path

from tickstream.infra import LocalInfra

DEV_SECRETS = (
    "INGEST_API_TOKEN",
    "WEBJS_HMAC_SECRET",
    "WAHA_HMAC_KEY",
    "EVOLUTION_TOKEN",
    "META_APP_SECRET",
    "META_VERIFY_TOKEN",
    "TWILIO_AUTH_TOKEN",
    "PUSHER_APP_SECRET",
    "TOKEN_SECRET",
)


def secrets_file(state_dir: Path) -> Path:
    return state_dir / "dev-secrets.env"


def services_file(state_dir: Path) -> Path:
    return state_dir / "services.env"


def read_env_file(path: Path) -> dict[str, str]:
    """``KEY=value`` lines; a missing file is an empty mapping."""
    if not path.exists():
        return {}
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {key.strip(): value.strip() for key, value in pairs if not key.startswith("#")}


def write_env_file(path: Path, values: Mapping[str, str], header: str) -> None:
    """Owner-only (0600): the file may hold secrets."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"# {header}", *(f"{key}={value}" for key, value in values.items())]
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write("\n".join(lines) + "\n")


def dev_secrets(state_dir: Path, environ: Mapping[str, str]) -> dict[str, str]:
    """Every development secret: the environment's value when set, else the stored one, else a
    new random one (stored, so that it is the same on the next run)."""
    path = secrets_file(state_dir)
    stored = read_env_file(path)
    missing = [name for name in DEV_SECRETS if not stored.get(name)]
    if missing:
        stored.update({name: secrets.token_urlsafe(24) for name in missing})
        write_env_file(path, stored, "development secrets of `tickstream up` (generated once)")
    return {name: environ.get(name) or stored[name] for name in DEV_SECRETS}


def load_dev_env(state_dir: Path, environ: MutableMapping[str, str] | None = None) -> None:
    """Fill unset variables from the local infrastructure, the running ``up`` and the development
    secrets, in that order; what the user set always wins."""
    env = os.environ if environ is None else environ
    for values in (
        LocalInfra(state_dir).read_env(),
        read_env_file(services_file(state_dir)),
        read_env_file(secrets_file(state_dir)),
    ):
        for key, value in values.items():
            env.setdefault(key, value)

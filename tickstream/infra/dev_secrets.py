"""The development secrets ``tickstream up`` gives its services, generated once into the state
directory's ``dev-secrets.env`` and reused, so that provider test set-ups and dashboard links keep
working across restarts, and a second terminal (``tickstream simulate``, ``tickstream token``)
signs with the same ones.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from pathlib import Path

from tickstream.state_dir import read_env_file, secrets_file, write_env_file

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

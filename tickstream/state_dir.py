"""The state directory (``TICKSTREAM_HOME``, default ``.tickstream/`` of the checkout) and the
``KEY=value`` files in it, through which every ``tickstream`` command finds what ``tickstream infra
up`` and ``tickstream up`` started and the development secrets, without the user copying anything.

Only the command line reads these, before any service reads its settings; the services themselves
read nothing but their environment. In the production image the directory is empty and nothing is
filled in.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, MutableMapping
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def default_state_dir() -> Path:
    return Path(os.environ.get("TICKSTREAM_HOME", PROJECT_ROOT / ".tickstream"))


def infra_env_file(state_dir: Path) -> Path:
    """The addresses of the broker and the cluster of ``tickstream infra up``."""
    return state_dir / "env"


def services_file(state_dir: Path) -> Path:
    """The ports of the running ``tickstream up``, removed when it stops."""
    return state_dir / "services.env"


def secrets_file(state_dir: Path) -> Path:
    """The development secrets, generated once and reused."""
    return state_dir / "dev-secrets.env"


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


def load_local_infra(state_dir: Path, environ: MutableMapping[str, str] | None = None) -> None:
    """Fill unset variables from the local infrastructure and the running ``up``: addresses and
    ports, never a secret, so that a service started by hand finds an unset secret unset and
    refuses what needs it, as in production. What the user set always wins."""
    _fill(environ, infra_env_file(state_dir), services_file(state_dir))


def load_dev_env(state_dir: Path, environ: MutableMapping[str, str] | None = None) -> None:
    """:func:`load_local_infra`, then the development secrets: for the development tools, which
    sign as the services of ``tickstream up`` check."""
    _fill(environ, infra_env_file(state_dir), services_file(state_dir), secrets_file(state_dir))


def _fill(environ: MutableMapping[str, str] | None, *paths: Path) -> None:
    env = os.environ if environ is None else environ
    for path in paths:
        for key, value in read_env_file(path).items():
            env.setdefault(key, value)

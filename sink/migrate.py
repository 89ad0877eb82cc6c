"""Alembic migrations run from code (``tickstream db upgrade``, or the sink at start), so no
``alembic.ini`` has to be found relative to the working directory.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from contract.settings import sqlalchemy_url

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", sqlalchemy_url(database_url).replace("%", "%%"))
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    """Bring the database schema to ``revision`` (default: the newest)."""
    command.upgrade(alembic_config(database_url), revision)

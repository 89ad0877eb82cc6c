"""What every service's settings share, and how settings are read from the environment.

Each service declares its own frozen settings class (``ingest.settings``, ``streams.settings``,
``sink.settings``, ``gateway.settings``) on top of :class:`ServiceSettings`, so a process holds only
its own secrets. A service's ``main()`` calls ``from_env`` once and passes the object down; nothing
else reads ``os.environ``. msgspec does the parsing and validation: a field ``kafka_bootstrap`` is
read from ``KAFKA_BOOTSTRAP``. The README's settings table documents each variable.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Annotated, Any, Self, TypeVar

import msgspec

from contract.logs import LogFormat

Port = Annotated[int, msgspec.Meta(ge=0, le=65535)]
Positive = Annotated[float, msgspec.Meta(gt=0)]


class SettingsError(ValueError):
    """A setting holds a value that cannot be used; the message names the variable."""


class ServiceSettings(msgspec.Struct, frozen=True, kw_only=True):
    """Where Kafka is, how the topics are named, and how a service serves and logs."""

    kafka_bootstrap: str = ""
    topic_prefix: str = ""
    topic_partitions: Annotated[int, msgspec.Meta(ge=1)] = 8
    bind_host: str = "127.0.0.1"
    log_level: str = "INFO"
    log_format: LogFormat = "text"  # "json": one object per line (contract/logs.py)
    max_body_bytes: Annotated[int, msgspec.Meta(ge=1)] = 1_048_576
    window_seconds: Positive = 1.0  # the snapshots' time grain, which the gateway's series use too

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Self:
        """Read this class's variables from ``environ`` (default: the process environment).

        An empty variable counts as unset, as ``FOO=`` in a compose or env file usually means.
        """
        env = os.environ if environ is None else environ
        raw = {
            name: env[name.upper()]
            for name in cls.__struct_fields__
            if env.get(name.upper(), "") != ""
        }
        return _convert(cls, raw)

    @classmethod
    def carrying(cls, other: ServiceSettings, **changes: Any) -> Self:
        """These settings with every field they share with ``other`` taken from it.

        Lets one deployment's common values (Kafka, prefix, database) seed each service's settings.
        """
        shared = {
            name: getattr(other, name) for name in cls.__struct_fields__ if hasattr(other, name)
        }
        return _convert(cls, shared | changes)

    def replace(self, **changes: Any) -> Self:
        """A copy with ``changes`` applied and validated again."""
        return _convert(type(self), msgspec.structs.asdict(self) | changes)


S = TypeVar("S", bound=ServiceSettings)


class DatabaseSettings(ServiceSettings, frozen=True, kw_only=True):
    """The settings of a service that also uses PostgreSQL."""

    database_url: str = ""

    @property
    def sqlalchemy_url(self) -> str:
        """``DATABASE_URL`` with the psycopg 3 driver named, whatever form the user gave."""
        return sqlalchemy_url(self.database_url)


def _convert(cls: type[S], values: Mapping[str, Any]) -> S:
    try:
        return msgspec.convert(values, cls, strict=False)
    except msgspec.ValidationError as exc:
        raise SettingsError(_name_the_variable(str(exc))) from exc


def _name_the_variable(message: str) -> str:
    """Turn msgspec's ``… - at `$.topic_partitions``` into ``TOPIC_PARTITIONS: …``."""
    found = re.search(r" - at `\$\.(\w+)`", message)
    if found is None:
        return message
    return f"{found.group(1).upper()}: {message[: found.start()]}"


def sqlalchemy_url(url: str) -> str:
    """Name the psycopg 3 driver in a PostgreSQL URL so that users may give the plain form."""
    for prefix in ("postgresql+psycopg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url

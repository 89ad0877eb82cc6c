"""How every service logs: plain text lines for people, or one JSON object per line for log
collectors (``LOG_FORMAT``; README, "Settings").

One configuration for all four services, so a collector parses every service's lines with the
same rule: ``time``, ``service``, ``level``, ``logger``, ``message``, the context fields a call
passed with ``extra=``, and ``exception`` when there is one.
"""

from __future__ import annotations

import json
import logging
import logging.config
from datetime import UTC, datetime
from typing import Any, Literal

LogFormat = Literal["text", "json"]
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"

# What every LogRecord has; anything else on a record came from ``extra=`` and is context.
_STANDARD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line (a traceback is a field, not more lines)."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "service": self.service,
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(
            (key, value)
            for key, value in vars(record).items()
            if key not in _STANDARD_ATTRIBUTES and key not in entry
        )
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def logging_config(service: str, level: str, log_format: LogFormat) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` for ``service``: one handler on stderr at ``level``.

    Faust's worker applies a dictConfig of its own when it starts; it is given this one.
    """
    formatter: dict[str, Any] = (
        {"()": JsonFormatter, "service": service}
        if log_format == "json"
        else {"format": TEXT_FORMAT}
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,  # module loggers exist before main() runs
        "formatters": {"tickstream": formatter},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "tickstream",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"level": level.upper(), "handlers": ["stderr"]},
    }


def configure_logging(service: str, level: str, log_format: LogFormat) -> None:
    """Replace the root logger's handlers with this service's (called first in ``main()``)."""
    logging.config.dictConfig(logging_config(service, level, log_format))


def librdkafka_logger() -> dict[str, logging.Logger]:
    """The confluent-kafka client setting that sends librdkafka's own diagnostics through Python
    logging: without it they go to stderr as ``%4|…|`` lines, breaking ``LOG_FORMAT=json``."""
    return {"logger": logging.getLogger("librdkafka")}

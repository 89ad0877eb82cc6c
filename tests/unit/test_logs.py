"""LOG_FORMAT=json gives one JSON object per line with the service, level, message and context."""

from __future__ import annotations

import io
import json
import logging
import logging.config
from collections.abc import Iterator

import pytest

from contract.logs import logging_config
from contract.settings import ServiceSettings, SettingsError


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved_level, saved_handlers = root.level, root.handlers[:]
    stream = io.StringIO()
    try:
        yield stream
    finally:
        root.setLevel(saved_level)
        root.handlers[:] = saved_handlers


def configure(stream: io.StringIO, log_format: str) -> None:
    config = logging_config("sink", "INFO", log_format)  # type: ignore[arg-type]
    config["handlers"]["stderr"]["stream"] = stream
    logging.config.dictConfig(config)


def test_a_json_line_has_the_service_level_message_and_context(captured: io.StringIO) -> None:
    configure(captured, "json")
    log = logging.getLogger("sink.service")
    log.info("wrote %d rows", 12, extra={"table": "message_status", "batch": 3})
    log.debug("not at INFO")
    try:
        raise ValueError("line one\nline two")
    except ValueError:
        log.exception("write failed")
    lines = captured.getvalue().splitlines()
    assert len(lines) == 2
    first, second = map(json.loads, lines)
    assert first["service"] == "sink"
    assert first["level"] == "INFO"
    assert first["logger"] == "sink.service"
    assert first["message"] == "wrote 12 rows"
    assert (first["table"], first["batch"]) == ("message_status", 3)
    assert first["time"].endswith("+00:00")
    assert second["level"] == "ERROR"
    assert "ValueError: line one\nline two" in second["exception"]


def test_text_stays_one_readable_line(captured: io.StringIO) -> None:
    configure(captured, "text")
    logging.getLogger("gateway").warning("client dropped")
    assert captured.getvalue().rstrip().endswith("WARNING gateway client dropped")


def test_an_existing_module_logger_keeps_logging_after_configuration(
    captured: io.StringIO,
) -> None:
    early = logging.getLogger("ingest.batcher")  # created at import, before main() configures
    configure(captured, "json")
    early.warning("still here")
    assert json.loads(captured.getvalue())["message"] == "still here"


def test_log_format_is_read_from_the_environment_and_checked() -> None:
    assert ServiceSettings.from_env({}).log_format == "text"
    assert ServiceSettings.from_env({"LOG_FORMAT": "json"}).log_format == "json"
    with pytest.raises(SettingsError, match="LOG_FORMAT"):
        ServiceSettings.from_env({"LOG_FORMAT": "yaml"})

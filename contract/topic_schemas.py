"""JSON Schema of each topic that other teams read or write directly (docs/topics.md).

The schemas are generated from the msgspec types of ``contract.events``, so they cannot say
anything the code does not do; the generated files are committed under ``docs/schemas/`` for
consumers that never see this code, and a test fails when the types and the files drift apart.
Regenerate them with ``python -m contract.topic_schemas`` (or ``make schemas``).
"""

from __future__ import annotations

import inspect
import json
import sys
from pathlib import Path
from typing import Any

import msgspec

from contract.events import (
    SCHEMA_VERSION,
    CampaignRegistration,
    EventBatch,
    MessageStatusBatch,
    Snapshot,
)
from contract.topics import ACK_EVENTS, CAMPAIGN_EVENTS, CAMPAIGN_STATS, MESSAGE_STATUS

DIALECT = "https://json-schema.org/draft/2020-12/schema"
DEFAULT_DIRECTORY = Path("docs/schemas")

# topic (without TOPIC_PREFIX) → (the type of its record values, what its record keys are)
PUBLIC_TOPICS: dict[str, tuple[type[msgspec.Struct], str]] = {
    CAMPAIGN_STATS: (Snapshot, "campaign id"),
    MESSAGE_STATUS: (MessageStatusBatch, "the message id of the batch's first status"),
    ACK_EVENTS: (EventBatch, "message id"),
    CAMPAIGN_EVENTS: (CampaignRegistration, "campaign id"),
}


def file_name(topic: str) -> str:
    return f"{topic}.schema.json"


def topic_schema(topic: str) -> dict[str, Any]:
    """The self-contained JSON Schema (draft 2020-12) of one topic's record values."""
    value_type, key = PUBLIC_TOPICS[topic]
    (root,), definitions = msgspec.json.schema_components(
        [value_type], ref_template="#/$defs/{name}"
    )
    return {
        "$schema": DIALECT,
        "title": f"{topic} record value",
        "description": (
            f"The JSON value of a record on the `{topic}` topic (record key: {key}), "
            f"schema version {SCHEMA_VERSION}. See docs/topics.md."
        ),
        **root,
        "$defs": _tidy_descriptions(definitions),
    }


def render(schema: dict[str, Any]) -> str:
    """The text committed for a schema: stable, diff-friendly."""
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def rendered_schemas() -> dict[str, str]:
    """Every committed file's name and the text it must hold."""
    return {file_name(topic): render(topic_schema(topic)) for topic in PUBLIC_TOPICS}


def write_schemas(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in rendered_schemas().items():
        path = directory / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def _tidy_descriptions(node: Any) -> Any:
    """Docstrings become descriptions with their source indentation; strip it for readers."""
    if isinstance(node, dict):
        return {
            key: inspect.cleandoc(value)
            if key == "description" and isinstance(value, str)
            else _tidy_descriptions(value)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_tidy_descriptions(item) for item in node]
    return node


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    directory = Path(args[0]) if args else DEFAULT_DIRECTORY
    for path in write_schemas(directory):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

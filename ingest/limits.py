"""How long what ingest keeps may be (docs/ingest.md, "Hardening").

Every record ingest produces must fit in one Kafka message. A body may hold a field of any length
within ``MAX_BODY_BYTES``; produced as it came, one such field would make its record larger than
the broker takes, and the record would fail together with every event of other requests packed
with it. So each text that reaches a record is bounded here: identifiers are refused beyond their
limit (a cut identifier would name another message or person), display text is cut.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

# Kafka's default largest message is 1 MB (librdkafka's ``message.max.bytes``, the broker's
# ``message.max.bytes``); stay below it with room for the record's own overhead.
MAX_RECORD_BYTES = 900_000
# ids, recipients, participants, names: a longer one is refused (422 naming the field)
MAX_SHORT_CHARS = 512
# error codes and titles, shown to users and never joined on: a longer one is cut
MAX_DISPLAY_CHARS = 512
# why a body was refused, and the field it names: cut, in the answer and in the dead letter
MAX_REASON_CHARS = 1_000
# a campaign's audience: far above any real campaign, far below what the counters can hold
MAX_TOTAL_RECIPIENTS = 10_000_000

Short = Annotated[str, msgspec.Meta(max_length=MAX_SHORT_CHARS)]

ELLIPSIS = "…"


def clip(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, the last one ``…`` when it was cut."""
    return text if len(text) <= limit else text[: limit - 1] + ELLIPSIS

"""Where the worker keeps the records it cannot use: ``worker-dlq``.

Ingest validates everything it produces, so such a record comes from elsewhere (a producer that
writes to the topics directly, a tombstone, a bug). Skipping it keeps its partition moving; keeping
its bytes with the reason loses nothing. The dead letter goes through the same producer as the
worker's other writes, which is flushed before every offset commit, so a committed offset implies
a kept dead letter (a crash before the commit may keep one twice).
"""

from __future__ import annotations

import logging

from contract.events import dead_letter_record, encode
from streams import metrics
from streams.changelog_writer import ChangelogWriter

log = logging.getLogger(__name__)


class DeadLetters:
    def __init__(self, writer: ChangelogWriter, topic: str) -> None:
        self.writer = writer
        self.topic = topic

    async def keep(
        self, reason: str, topic: str, partition: int, offset: int, value: bytes | None
    ) -> None:
        metrics.BAD_RECORDS.labels(topic=topic).inc()
        log.error("record %s/%d@%d kept in %s: %s", topic, partition, offset, self.topic, reason)
        record = dead_letter_record(reason, topic, partition, offset, None, value)
        await self.writer.send(self.topic, None, encode(record), 0)

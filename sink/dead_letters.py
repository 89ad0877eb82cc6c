"""Delivering a batch's dead letters to ``sink-dlq``.

A batch's offsets are committed only once Kafka has acknowledged its dead letters, so a record is
never passed over without its dead letter being durable. Delivery is at least once: a crash after
the dead letters and before the offset commit sends them again (docs/sink.md, "Faults").
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from confluent_kafka import KafkaError, Message, Producer

from contract.logs import librdkafka_logger

from .records import DeadLetter

log = logging.getLogger("sink")

DLQ_FLUSH_SECONDS = 10.0


class DeadLetterUndelivered(RuntimeError):
    """The dead-letter topic did not acknowledge every record; the batch is retried."""


class DeadLetterProducer:
    """An idempotent producer (``acks=all``) onto the dead-letter topic, created at the first
    dead letter: most sinks never need one."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self._bootstrap = bootstrap
        self._topic = topic
        self._producer: Producer | None = None
        self._failed_deliveries = 0

    def deliver(self, dead_letters: Sequence[DeadLetter]) -> None:
        """Send them and wait for Kafka's acknowledgement; :class:`DeadLetterUndelivered` if any
        is missing, so the caller commits no offset past a lost dead letter."""
        if not dead_letters:
            return
        producer = self._kafka_producer()
        self._failed_deliveries = 0
        for letter in dead_letters:
            log.warning(
                "dead letter %s[%d]@%d: %s",
                letter.origin.topic,
                letter.origin.partition,
                letter.origin.offset,
                letter.reason,
            )
            producer.produce(
                self._topic, value=letter.encode(), key=letter.key, on_delivery=self._delivered
            )
        remaining = producer.flush(DLQ_FLUSH_SECONDS)
        if remaining or self._failed_deliveries:
            raise DeadLetterUndelivered(
                f"{remaining + self._failed_deliveries} dead letters not acknowledged by Kafka"
            )

    def close(self) -> None:
        """Wait for whatever is still on its way (at shutdown)."""
        if self._producer is not None:
            self._producer.flush(DLQ_FLUSH_SECONDS)

    def _kafka_producer(self) -> Producer:
        if self._producer is None:
            self._producer = Producer(
                {
                    "bootstrap.servers": self._bootstrap,
                    "enable.idempotence": True,
                    "acks": "all",
                    "client.id": "tickstream-sink-dlq",
                    **librdkafka_logger(),
                }
            )
        return self._producer

    def _delivered(self, error: KafkaError | None, _message: Message) -> None:
        if error is not None:
            self._failed_deliveries += 1

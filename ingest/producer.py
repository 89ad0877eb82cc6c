"""confluent-kafka's producer behind asyncio futures.

librdkafka reports deliveries from ``poll()``; a thread polls (blocking in C, without the GIL)
and hands the reports to the event loop with ``call_soon_threadsafe``, so a request can await
the acknowledgement of exactly its own records. One produce response acknowledges a record per
partition, so the reports of one ``poll()`` travel together: one wake-up of the loop, not one
per record.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import Collection
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from contract.logs import librdkafka_logger

log = logging.getLogger(__name__)
WARNING_INTERVAL_SECONDS = 10.0


class Unavailable(Exception):
    """Kafka did not take the records in time: the request is answered 503 and retried."""


def producer_config(bootstrap: str, timeout_seconds: float) -> dict[str, Any]:
    """Idempotent, ``acks=all``; gives up on a record at the same deadline the request has."""
    return {
        "bootstrap.servers": bootstrap,
        "enable.idempotence": True,
        "acks": "all",
        # keyed records without an explicit partition land where Java/aiokafka clients put them
        "partitioner": "murmur2_random",
        # the batcher gathers records itself (group commit); librdkafka only waits long enough
        # to put a round's records, one per partition, into one produce request
        "linger.ms": 0.5,
        "compression.type": "lz4",
        "message.timeout.ms": max(1000, int(timeout_seconds * 1000)),
        "reconnect.backoff.ms": 100,
        "reconnect.backoff.max.ms": 1000,
        "log.connection.close": False,
        # small produce requests must not wait for delayed ACKs (Nagle): it costs ~40 ms each
        "socket.nagle.disable": True,
        **librdkafka_logger(),
    }


async def acknowledged(futures: Collection[asyncio.Future[str | None]], within: float) -> None:
    """Return once every record was acknowledged; :class:`Unavailable` on failure or timeout.

    ``asyncio.wait`` never cancels the futures, which other requests may share.
    """
    if not futures:
        return
    done, pending = await asyncio.wait(futures, timeout=within)
    if pending:
        raise Unavailable(f"Kafka did not acknowledge within {within:g} s")
    errors = [error for error in (f.result() for f in done) if error is not None]
    if errors:
        raise Unavailable(f"Kafka did not take the records: {errors[0]}")


Report = tuple[asyncio.Future[str | None], str | None]


def _settle(reports: list[Report]) -> None:
    for future, error in reports:
        if not future.done():
            future.set_result(error)


class KafkaProducer:
    """One librdkafka producer and the thread that delivers its reports to the loop."""

    def __init__(self, config: dict[str, Any]) -> None:
        self._config = {**config, "error_cb": self._on_error}
        self._producer = Producer(self._config)
        self._fatal = False
        self._last_warning = 0.0
        self._stopping = threading.Event()
        # delivery reports not yet handed to the loop; deque: appended to by whichever thread
        # runs librdkafka's callbacks (the poller, or a flush), drained by the poller
        self._reports: deque[Report] = deque()
        self._thread = threading.Thread(target=self._poll, name="kafka-delivery", daemon=True)
        self._thread.start()

    def _on_error(self, error: KafkaError) -> None:
        if error.fatal():
            log.error("Kafka producer fatal error, will start a new producer: %s", error)
            self._fatal = True
        elif time.monotonic() - self._last_warning > WARNING_INTERVAL_SECONDS:
            # librdkafka reports every failed connection attempt; one line per interval will do
            self._last_warning = time.monotonic()
            log.warning("Kafka: %s", error)

    def _poll(self) -> None:
        while not self._stopping.is_set():
            self._producer.poll(0.05)
            self._hand_over()
        self._hand_over()

    def _hand_over(self) -> None:
        """Give the reports gathered so far to the loops their futures belong to."""
        by_loop: dict[asyncio.AbstractEventLoop, list[Report]] = {}
        while self._reports:
            report = self._reports.popleft()
            by_loop.setdefault(report[0].get_loop(), []).append(report)
        for loop, reports in by_loop.items():
            if not loop.is_closed():
                loop.call_soon_threadsafe(_settle, reports)

    def produce(
        self, topic: str, value: bytes, key: str | None = None, partition: int = -1
    ) -> asyncio.Future[str | None]:
        """Queue one record; its future gives None once Kafka acknowledged it, else the error."""
        if self._fatal:
            self._renew()
        future: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
        reports = self._reports

        def on_delivery(error: KafkaError | None, _message: Message) -> None:
            reports.append((future, None if error is None else str(error)))

        try:
            self._producer.produce(
                topic, value=value, key=key, partition=partition, on_delivery=on_delivery
            )
        except BufferError:
            raise Unavailable("the producer's queue is full (Kafka too slow)") from None
        except KafkaException as exc:
            raise Unavailable(f"Kafka refused the record: {exc}") from None
        return future

    def _renew(self) -> None:
        """A fatal error (e.g. a fenced idempotent producer) needs a new producer instance."""
        old = self._producer
        self._producer = Producer(self._config)
        self._fatal = False
        threading.Thread(target=old.flush, args=(5.0,), daemon=True).start()

    async def ready(self, within: float) -> int:
        """How many brokers answered a metadata request; raises :class:`Unavailable` if none."""
        try:
            metadata = await asyncio.to_thread(self._producer.list_topics, timeout=within)
        except KafkaException as exc:
            raise Unavailable(f"Kafka did not answer: {exc}") from None
        if not metadata.brokers:
            raise Unavailable("Kafka answered without brokers")
        return len(metadata.brokers)

    async def close(self, within: float) -> int:
        """Deliver what is queued (up to ``within`` s), then release the producer; return how
        many records were dropped (their requests were already answered 503).
        """
        left = int(await asyncio.to_thread(self._producer.flush, within))
        self._stopping.set()
        await asyncio.to_thread(self._thread.join, 1.0)
        if left:
            self._producer.purge()
        await asyncio.to_thread(self._producer.close)
        return left

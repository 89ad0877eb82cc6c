"""Following the directory's topics: every ingest instance reads ``sender-keys``,
``campaign-owners`` and ``campaign-events`` from their beginning and then live, outside any
consumer group (``assign``, nothing committed), into its :class:`Directory`.

A lookup that finds nothing may be early rather than wrong (a key issued a moment ago, a
campaign registered through another instance): :meth:`Follower.sync` waits until this instance
has read everything the topics held when it was called, so that a write acknowledged anywhere
is seen here before a request is refused for want of it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from contract.events import (
    DecodeError,
    decode_campaign_event,
    decode_campaign_owner,
    decode_sender_key,
)
from contract.fetching import FETCH_MAX_WAIT_MS, groupless_reader, topic_partitions
from contract.topics import Topics
from ingest.directory import Directory
from ingest.producer import Unavailable

log = logging.getLogger(__name__)
RESTART_SECONDS = 2.0


class Follower:
    def __init__(self, bootstrap: str, topics: Topics, directory: Directory) -> None:
        self.directory = directory
        self._bootstrap = bootstrap
        self._apply: dict[str, Callable[[bytes], None]] = {
            topics.sender_keys: lambda v: directory.apply_key(decode_sender_key(v)),
            topics.campaign_owners: lambda v: directory.apply_owner(decode_campaign_owner(v)),
            topics.campaign_events: lambda v: directory.apply_registration(
                decode_campaign_event(v)
            ),
        }
        self._consumer: AIOKafkaConsumer | None = None
        self._assigned = asyncio.Event()
        self._advanced = asyncio.Event()  # replaced after every batch: waiters hold the old one
        self._next: dict[TopicPartition, int] = {}  # where to resume after a failure

    async def run(self) -> None:
        """Read and follow until cancelled; a failure restarts the consumer where it stopped."""
        while True:
            consumer = groupless_reader(
                self._bootstrap, "tickstream-ingest", fetch_max_wait_ms=FETCH_MAX_WAIT_MS
            )
            try:
                await consumer.start()
                await self._assign(consumer)
                self._consumer = consumer
                self._assigned.set()
                await self._follow(consumer)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("directory consumer failed; restarting in %g s", RESTART_SECONDS)
                await asyncio.sleep(RESTART_SECONDS)
            finally:
                self._assigned.clear()
                self._consumer = None
                await consumer.stop()

    async def sync(self, within: float) -> None:
        """Return once everything the topics hold now has been read; :class:`Unavailable` when
        that takes longer than ``within`` seconds (Kafka unreachable)."""
        try:
            async with asyncio.timeout(within):
                await self._assigned.wait()
                consumer = self._consumer
                assert consumer is not None
                ends = await consumer.end_offsets(list(self._next))
                while True:
                    advanced = self._advanced
                    if all([await consumer.position(tp) >= end for tp, end in ends.items()]):
                        return
                    await advanced.wait()
        except (TimeoutError, KafkaError) as exc:
            raise Unavailable(f"sender keys and campaign owners not readable: {exc!r}") from None

    async def _assign(self, consumer: AIOKafkaConsumer) -> None:
        while True:
            found = await topic_partitions(self._bootstrap, list(self._apply), "tickstream-ingest")
            missing = [topic for topic in self._apply if not found.get(topic)]
            if not missing:
                break
            log.warning("waiting for topics %s (tickstream topics create)", ", ".join(missing))
            await asyncio.sleep(RESTART_SECONDS)
        tps = [TopicPartition(topic, p) for topic, parts in found.items() for p in sorted(parts)]
        consumer.assign(tps)
        for tp in tps:
            # offset 0 of a compacted topic may be gone: auto_offset_reset takes the first left
            consumer.seek(tp, self._next.setdefault(tp, 0))

    async def _follow(self, consumer: AIOKafkaConsumer) -> None:
        while True:
            batches = await consumer.getmany(timeout_ms=500, max_records=5000)
            for tp, records in batches.items():
                apply = self._apply[tp.topic]
                for record in records:
                    if record.value is None:
                        continue
                    try:
                        apply(record.value)
                    except DecodeError as exc:
                        log.warning("skipping undecodable %s record: %s", tp.topic, exc)
                if records:
                    self._next[tp] = records[-1].offset + 1
            self._advanced.set()
            self._advanced = asyncio.Event()

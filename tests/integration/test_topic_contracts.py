"""The public topics as a consumer sees them (docs/topics.md): what the real ingest and worker
wrote validates against the committed JSON Schemas, and the page's example consumer keeps exact
per-campaign totals through duplicates, replays and a SIGKILL."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import jsonschema
import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from contract.admin import create_topics
from contract.partitioning import partition_for
from contract.topic_schemas import PUBLIC_TOPICS, file_name
from contract.topics import Topics
from tests.integration.deployment_support import deployment_env, read_to_end
from tests.integration.pipeline import SnapshotReader, stop
from tickstream.deployment import Deployment
from tickstream.simulator.checking import counts_of
from tickstream.simulator.oracle import Expected
from tickstream.simulator.plan import Shape, make_plan
from tickstream.simulator.sending import send_plan
from tickstream.up import Stack

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
TOPICS_PAGE = ROOT / "docs" / "topics.md"


@dataclass(frozen=True, slots=True)
class Written:
    """What a simulated run through the real ingest and worker left on the topics."""

    bootstrap: str
    topics: Topics
    expected: dict[str, Expected]


@pytest.fixture(scope="module")
def written(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Written]:
    home = tmp_path_factory.mktemp("contracts")
    topics = Topics(prefix=f"contracts{home.name[-6:]}-", partitions=4)
    create_topics(kafka_bootstrap, topics.all())
    env = deployment_env(kafka_bootstrap, "", topics.prefix, topics.partitions, home)
    deployment = Deployment.from_env(env)
    stack = Stack(env, home / "logs")
    stack.add("ingest", [sys.executable, "-m", "ingest"], deployment.ingest.ingest_port)
    stack.add("worker", [sys.executable, "-m", "streams"], deployment.worker.worker_port)
    stack.start()
    reader = SnapshotReader(kafka_bootstrap, topics, f"contracts-{home.name}")
    try:
        stack.wait_healthy(180)
        plan = make_plan(
            Shape(campaigns=3, recipients=150, duration=2, delay_scale=0.05, seed=5),
            "ws-contracts",
            home.name,
            datetime.now(UTC),
        )
        report = asyncio.run(send_plan(plan, deployment))
        assert report.refused == []
        expected = plan.expected()
        assert reader.wait_for(expected, timeout=180) == expected
        yield Written(kafka_bootstrap, topics, expected)
    finally:
        reader.close()
        stack.stop()


@pytest.mark.parametrize("topic", list(PUBLIC_TOPICS))
def test_what_the_pipeline_wrote_validates_against_the_committed_schema(
    written: Written, topic: str
) -> None:
    schema = json.loads((ROOT / "docs" / "schemas" / file_name(topic)).read_text("utf-8"))
    validator = jsonschema.Draft202012Validator(schema)
    records = read_to_end(written.bootstrap, written.topics.name(topic), written.topics.partitions)
    assert records, f"nothing on {topic}"
    for record in records:
        value = json.loads(record.value() or b"")
        errors = [error.message for error in validator.iter_errors(value)]
        assert errors == [], f"{topic} offset {record.offset()}: {errors}"
        # the key is the id docs/topics.md names, and it hashes to the record's partition
        key = (record.key() or b"").decode()
        assert key == first_id(topic, value)
        assert partition_for(key, written.topics.partitions) == record.partition()


def first_id(topic: str, value: dict) -> str:
    if "campaign_id" in value:
        return str(value["campaign_id"])
    items = value.get("statuses") or value["events"]
    return str(items[0]["message_id"])


def test_message_status_carries_skip_pseudo_rows_a_consumer_can_drop(written: Written) -> None:
    topic = written.topics.message_status
    rows = [
        status
        for record in read_to_end(written.bootstrap, topic, written.topics.partitions)
        for status in json.loads(record.value() or b"")["statuses"]
    ]
    skips = [row for row in rows if row.get("skipped")]
    assert skips and all(row["message_id"].startswith("skip:") for row in skips)
    assert {row["status"] for row in skips} <= {"skipped", "attempted"}
    # merged as docs/topics.md says: a skip row turns "attempted" for good once a dispatch followed
    attempted = {row["message_id"] for row in skips if row.get("attempted")}
    assert all(row["status"] == "attempted" for row in skips if row.get("attempted"))
    by_campaign = {campaign: 0 for campaign in written.expected}
    for message_id, campaign in {(r["message_id"], r["campaign_id"]) for r in skips}:
        by_campaign[campaign] += message_id not in attempted
    assert by_campaign == {c: e.skipped for c, e in written.expected.items()}


def test_the_example_consumer_keeps_exact_totals_through_duplicates_and_restarts(
    written: Written, tmp_path: Path
) -> None:
    script = tmp_path / "campaign_totals.py"
    script.write_text(example_script(), encoding="utf-8")
    totals_file = tmp_path / "totals.json"
    group = f"analytics-{tmp_path.name}"
    env = {
        "KAFKA_BOOTSTRAP": written.bootstrap,
        "TOPIC_PREFIX": written.topics.prefix,
        "CONSUMER_GROUP": group,
        "TOTALS_FILE": str(totals_file),
        "PATH": "/usr/bin:/bin",
    }
    stats = written.topics.campaign_stats
    # what a worker crash produces: the same snapshots again, some after newer ones
    originals = read_to_end(written.bootstrap, stats, written.topics.partitions)
    replay(written.bootstrap, originals[::-1])

    def run() -> subprocess.Popen[bytes]:
        return subprocess.Popen([sys.executable, str(script)], env=env, start_new_session=True)

    first = run()
    try:
        wait_until(lambda: totals_file.exists() or first.poll() is not None)
    finally:
        stop(first, signal.SIGKILL)
    second = run()
    try:
        replay(written.bootstrap, originals)  # and duplicates while it runs
        wait_until(lambda: caught_up(written, group) or second.poll() is not None)
    finally:
        stop(second)
    assert second.returncode == 0
    totals = json.loads(totals_file.read_text("utf-8"))
    assert {campaign: counts_of(values) for campaign, values in totals.items()} == (
        written.expected
    )


def example_script() -> str:
    page = TOPICS_PAGE.read_text("utf-8")
    found = re.search(
        r"<!-- the test runs the next code block -->\n```python\n(.*?)```", page, re.S
    )
    assert found is not None, "docs/topics.md lost its example"
    return found.group(1)


def replay(bootstrap: str, records: list) -> None:
    producer = Producer({"bootstrap.servers": bootstrap})
    for record in records:
        producer.produce(
            record.topic(), record.value(), key=record.key(), partition=record.partition()
        )
    assert producer.flush(30) == 0


def caught_up(written: Written, group: str) -> bool:
    """The group has committed every record of ``campaign-stats`` as it stands now."""
    consumer = Consumer({"bootstrap.servers": written.bootstrap, "group.id": group})
    try:
        parts = [
            TopicPartition(written.topics.campaign_stats, p)
            for p in range(written.topics.partitions)
        ]
        committed = consumer.committed(parts, timeout=10)
        ends = [consumer.get_watermark_offsets(part, 10)[1] for part in parts]
        # an empty partition has no committed offset (a negative sentinel)
        return all(max(c.offset, 0) == end for c, end in zip(committed, ends, strict=True))
    finally:
        consumer.close()


def wait_until(condition: Callable[[], bool], limit: float = 120.0) -> None:
    """Poll ``condition``; the assertions after it say what went wrong if it never held."""
    deadline = time.monotonic() + limit
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.2)

"""The Node reporter (clients/node) in real Node against a real ``python -m ingest`` and Kafka,
writing with a sender key: ingest killed for 30 s in the middle of a campaign loses nothing, and
neither does a Node process killed with everything still in its spool. Kafka ends up holding
every report, the dispatches with their labels, and the campaign's counts are the oracle's."""

from __future__ import annotations

import json
import os
import queue
import random
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import pytest

from contract.events import (
    MAX_TAGS,
    AckEvent,
    Dispatch,
    MessageEvent,
    Tag,
    Tags,
    Template,
    Variant,
    decode_campaign_event,
    decode_event_batch,
)
from contract.status import WEBJS_ACK
from contract.topics import Topics
from tests.integration.ingest_support import ingest_process, read_topic, sender_key
from tickstream.infra.ports import free_port
from tickstream.simulator.oracle import oracle
from tickstream.state_dir import PROJECT_ROOT

pytestmark = pytest.mark.integration

DRIVER = PROJECT_ROOT / "clients" / "node" / "test" / "fixtures" / "campaign.js"
WORKSPACE = "w-node"
OUTAGE_SECONDS = 30


def campaign_plan(campaign: str, messages: int, seed: int) -> tuple[list[dict[str, Any]], list]:
    """What a whatsapp-web.js service reports in a campaign (the driver's calls, in order) and
    the canonical events they stand for."""
    rng = random.Random(seed)
    timed: list[tuple[float, dict[str, Any]]] = []
    events: list[MessageEvent] = []
    for m in range(messages):
        message_id = f"true_5511{m:07d}@c.us_3EB0{seed:04X}{m:06X}"
        recipient = f"5511{m:07d}"
        labels = _labels(m)
        timed.append(
            (
                m,
                {
                    "kind": "dispatch",
                    "body": {
                        "message_id": message_id,
                        "campaign_id": campaign,
                        "workspace_id": WORKSPACE,
                        "recipient": f"+{recipient}",
                        **labels,
                    },
                },
            )
        )
        events.append(
            Dispatch(message_id=message_id, campaign_id=campaign, workspace_id=WORKSPACE, **labels)
        )
        acks = rng.choice([[1], [1, 2], [1, 2, 3], [1, 2, 3, 4], [-1], [1, -1, 2], []])
        at = float(m)
        for ack in acks:
            at += rng.uniform(0.5, 40)
            message = {"id": {"_serialized": message_id}, "to": f"{recipient}@c.us"}
            timed.append((at, {"kind": "ack", "message": message, "ack": ack}))
            events.append(
                AckEvent(
                    message_id=message_id, status=WEBJS_ACK[ack], received_at=datetime.now(UTC)
                )
            )
    registration = {
        "kind": "campaign",
        "body": {"campaign_id": campaign, "workspace_id": WORKSPACE, "total_recipients": messages},
    }
    return [registration, *(item for _, item in sorted(timed, key=lambda t: t[0]))], events


def _labels(m: int) -> dict[str, Any]:
    """A/B variants, a template, a few tags; every tenth message without any, every seventh with
    the longest labels the contract allows."""
    if m % 10 == 0:
        return {}
    if m % 7 == 0:
        return {
            "template": "t" * _limit(Template),
            "variant": "🅰" * _limit(Variant),
            "tags": [str(n) * _limit(Tag) for n in range(MAX_TAGS)],
        }
    return {"template": "promo_nov", "variant": "AB"[m % 2], "tags": ["vip", f"batch-{m % 3}"]}


def _limit(label: object) -> int:
    info = msgspec.inspect.type_info(label)
    assert isinstance(info, msgspec.inspect.StrType) and info.max_length is not None
    return info.max_length


class Driver:
    """The driver script in Node; its stdout lines as they come."""

    def __init__(self, plan: Path, url: str, token: str, spool: Path, **env: str) -> None:
        self.process = subprocess.Popen(
            ["node", str(DRIVER), str(plan)],
            env={
                **os.environ,
                "TICKSTREAM_URL": url,
                "TICKSTREAM_TOKEN": token,
                "TICKSTREAM_SPOOL_DIR": str(spool),
                **env,
            },
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        with self.process.stdout:
            for line in self.process.stdout:
                self.lines.put(line.strip())
        self.lines.put("")

    def wait_for(self, line: str) -> None:
        while (got := self.lines.get(timeout=600)) != line:
            assert got, f"the driver ended before printing {line!r}"


@contextmanager
def driving(plan: Path, url: str, token: str, spool: Path, **env: str) -> Iterator[Driver]:
    driver = Driver(plan, url, token, spool, **env)
    try:
        yield driver
    finally:
        if driver.process.poll() is None:
            driver.process.kill()
        driver.process.wait(30)
        driver.reader.join(30)  # it closes the pipe at its end


def landed(bootstrap: str, topics: Topics) -> list[MessageEvent]:
    return [
        event
        for _, _, value in read_topic(bootstrap, topics.ack_events)
        for event in decode_event_batch(value).events
    ]


def assert_everything_landed(bootstrap: str, topics: Topics, events: list, campaign: str) -> None:
    found = landed(bootstrap, topics)
    planned = {(e.message_id, type(e).__name__, getattr(e, "status", "")) for e in events}
    got = {(e.message_id, type(e).__name__, getattr(e, "status", "")) for e in found}
    assert got == planned  # every report, nothing else (a repeat after a retry is harmless)
    assert oracle(found) == oracle(events)
    labels = {
        e.message_id: (e.template, e.variant, e.tags) for e in events if isinstance(e, Dispatch)
    }
    for event in found:
        if isinstance(event, Dispatch):
            assert (event.template, event.variant, event.tags) == labels[event.message_id]
    for event in found:
        if isinstance(event, AckEvent):
            assert event.provider == "webjs"
            assert event.occurred_at is not None and event.occurred_at <= event.received_at
    registered = [
        decode_campaign_event(v) for _, _, v in read_topic(bootstrap, topics.campaign_events)
    ]
    assert {(c.campaign_id, c.workspace_id) for c in registered} == {(campaign, WORKSPACE)}


def test_ingest_down_for_30_s_during_a_campaign_loses_nothing(
    kafka_bootstrap: str, topics: Topics, tmp_path: Path
) -> None:
    token = sender_key(kafka_bootstrap, topics, "--workspace", WORKSPACE)
    items, events = campaign_plan("node-outage", 600, seed=1)
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps(items))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with driving(plan, url, token, tmp_path / "spool", PACE_MS="20") as driver:
        with ingest_process(kafka_bootstrap, topics, port=port):
            driver.wait_for("reported 400")
        # ingest is killed (SIGKILL) leaving the block; the campaign goes on without it
        time.sleep(OUTAGE_SECONDS)
        with ingest_process(kafka_bootstrap, topics, port=port):
            driver.wait_for("closed pending=0")
            assert driver.process.wait(60) == 0
    assert not (tmp_path / "spool" / "rejected.ndjson").exists()
    assert_everything_landed(kafka_bootstrap, topics, events, "node-outage")


def test_a_killed_node_process_loses_nothing_it_spooled(
    kafka_bootstrap: str, topics: Topics, tmp_path: Path
) -> None:
    token = sender_key(kafka_bootstrap, topics, "--workspace", WORKSPACE)
    items, events = campaign_plan("node-killed", 300, seed=2)
    plan, nothing = tmp_path / "plan.json", tmp_path / "nothing.json"
    plan.write_text(json.dumps(items))
    nothing.write_text("[]")
    port = free_port()  # nobody listens yet: everything stays in the spool
    url, spool = f"http://127.0.0.1:{port}", tmp_path / "spool"
    with driving(plan, url, token, spool, TICKSTREAM_HOLD="1") as first:
        first.wait_for(f"reported {len(items)}")
        first.process.kill()
        first.process.wait(30)
    with (
        ingest_process(kafka_bootstrap, topics, port=port),
        driving(nothing, url, token, spool) as second,
    ):
        second.wait_for("closed pending=0")
        assert second.process.wait(60) == 0
    assert_everything_landed(kafka_bootstrap, topics, events, "node-killed")


def test_the_reporters_label_limits_are_the_contracts() -> None:
    """The reporter refuses at the call what ingest would refuse (clients/node/README.md)."""
    script = "console.log(JSON.stringify(require('./src').LABEL_LIMITS))"
    done = subprocess.run(
        ["node", "-e", script],
        cwd=PROJECT_ROOT / "clients" / "node",
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    tags = msgspec.inspect.type_info(Tags)
    assert isinstance(tags, msgspec.inspect.ListType)
    assert json.loads(done.stdout) == {
        "template": _limit(Template),
        "variant": _limit(Variant),
        "tag": _limit(Tag),
        "tags": tags.max_length,
    }

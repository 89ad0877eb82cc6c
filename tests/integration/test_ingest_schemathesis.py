"""schemathesis fuzzes every operation of ``/openapi.json`` against a real ingest process (with
the real broker): no answer may be a 5xx, and every answer must match the document.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from contract.admin import create_topics
from contract.topics import Topics
from ingest.openapi import openapi_document
from tests.integration.ingest_support import API, ingest_process

pytestmark = [
    pytest.mark.integration,
    # NDJSON bodies are a free-form string in the document; tests/integration covers them
    pytest.mark.filterwarnings("ignore:Skipped test cases with unsupported payload media"),
]

schema = schemathesis.openapi.from_dict(openapi_document())


@pytest.fixture(scope="module")
def ingest_url(kafka_bootstrap: str) -> Iterator[str]:
    topics = Topics(prefix=f"fuzz{uuid.uuid4().hex[:8]}-", partitions=4)
    create_topics(kafka_bootstrap, topics.all())
    with ingest_process(kafka_bootstrap, topics) as (url, process):
        yield url
        process.terminate()
        _, stderr = process.communicate(timeout=30)
    # a graceful SIGTERM exit, and no traceback in the log: nothing crashed while fuzzed
    assert process.returncode == 0, stderr.decode(errors="replace")[-2000:]
    assert b"Traceback" not in stderr, stderr.decode(errors="replace")[-4000:]


@schema.parametrize()
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_5xx_and_answers_match_the_document(case: schemathesis.Case, ingest_url: str) -> None:
    headers = API if case.path.startswith("/v1/") else None
    case.call_and_validate(base_url=ingest_url, headers=headers)

"""The live dashboard in Debian's Chromium, against the whole real pipeline.

Events go in through ingest's HTTP API, the worker counts them, the sink writes PostgreSQL and the
gateway serves the page, its REST API and its WebSocket — every one a real process on a real
Kafka broker and a real PostgreSQL database. The browser then has to show what PostgreSQL holds,
follow new events without a reload, go offline when the gateway stops and come back in sync when
it returns, filter and page the recipients and download the CSV.
"""

from __future__ import annotations

import asyncio
import csv
import io
import random
import re
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import aiohttp.web
import msgspec
import pytest
import sqlalchemy as sa
from playwright.async_api import Browser, Page, async_playwright
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from contract.events import (
    Counters,
    GroupStatistics,
    Insights,
    SkipReason,
    Snapshot,
    WindowCounts,
)
from contract.insights import BOUNDS_SECONDS, BUCKETS, Bounds, percentiles, rate
from contract.schema import campaign_stats, message_status
from contract.settings import DatabaseSettings
from contract.topics import Topics
from gateway.auth import issue_token
from streams.stats import statistics
from tests.integration import gateway_support as gw
from tests.integration.pipeline import Pipeline, running_pipeline, until
from tickstream.infra.ports import free_port

pytestmark = pytest.mark.integration

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
INGEST_TOKEN = "dashboard-ingest-token"
TOKEN_SECRET = "dashboard-token-secret-of-32-bytes-or-more"
RECIPIENTS = 40
TEMPLATE = "spring_sale_v2"
# Generous bounds for a loaded 2-core machine; the live latency itself is printed, not asserted.
WAIT_MS = 30_000
PIPELINE_TIMEOUT = 120.0

COUNTER_COLUMNS = {
    "total": "total_message_count",
    "sent": "total_sent_count",
    "delivered": "total_delivered_count",
    "read": "total_read_count",
    "failed": "total_failed_count",
    "pending": "pending_count",
}
RATE_COLUMNS = {"delivery": "delivery_rate", "read": "read_rate", "success": "success_rate"}


@pytest.fixture
async def pipeline(
    kafka_bootstrap: str, database_url: str, topics: Topics, tmp_path: Path
) -> AsyncIterator[Pipeline]:
    async with running_pipeline(
        kafka_bootstrap,
        database_url,
        topics,
        tmp_path,
        INGEST_API_TOKEN=INGEST_TOKEN,
        TOKEN_SECRET=TOKEN_SECRET,
    ) as running:
        yield running


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(database_url)
    yield engine
    await engine.dispose()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as p:
        chromium = await p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield chromium
        await chromium.close()


class Sender:
    """A WhatsApp sender talking to ingest's canonical API."""

    def __init__(self, session: aiohttp.ClientSession, url: str) -> None:
        self.session = session
        self.url = url

    async def post(self, path: str, body: Any) -> None:
        headers = {"Authorization": f"Bearer {INGEST_TOKEN}"}
        async with self.session.post(f"{self.url}{path}", json=body, headers=headers) as response:
            assert response.status < 300, f"{path}: {response.status} {await response.text()}"

    async def statuses(self, status: str, messages: range, **extra: str) -> None:
        events = [{"message_id": f"m{i:03}", "status": status, **extra} for i in messages]
        await self.post("/v1/events", events)


async def shows_eventually(read: Callable[[], Awaitable[Any]], want: Any, what: str) -> None:
    """Poll the page until ``read()`` equals ``want`` (a page that re-reads at its own pace,
    not a timing claim); else fail showing the difference."""

    async def same() -> bool:
        return bool(await read() == want)

    try:
        await until(same, what, WAIT_MS / 1000)
    except AssertionError:
        assert await read() == want


async def stats_row(engine: AsyncEngine, campaign: str) -> dict[str, Any] | None:
    async with engine.connect() as conn:
        query = sa.select(campaign_stats).where(campaign_stats.c.campaign_id == campaign)
        row = (await conn.execute(query)).mappings().first()
    return dict(row) if row else None


async def stats_where(engine: AsyncEngine, campaign: str, **want: int) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        row = await stats_row(engine, campaign)
        return row if row and all(row[k] == v for k, v in want.items()) else None

    result: dict[str, Any] = await until(check, f"campaign_stats {want}", PIPELINE_TIMEOUT)
    return result


async def status_counts(engine: AsyncEngine, campaign: str) -> dict[str, int]:
    async with engine.connect() as conn:
        query = (
            sa.select(message_status.c.status, sa.func.count())
            .where(message_status.c.campaign_id == campaign)
            .group_by(message_status.c.status)
        )
        return {status: n for status, n in (await conn.execute(query)).all()}


def digits(text: str | None) -> int:
    return int(re.sub(r"\D", "", text or "") or "-1")


async def counter(page: Page, key: str) -> int:
    return digits(await page.text_content(f"#count-{key}"))


async def expect_counter(page: Page, key: str, value: int) -> None:
    await page.wait_for_function(
        "([key, value]) => document.querySelector(`#count-${key}`)"
        "?.textContent.replace(/\\D/g, '') === String(value)",
        arg=[key, value],
        timeout=WAIT_MS,
    )


async def shows_database(page: Page, row: dict[str, Any]) -> None:
    """Every counter and rate on the page equals PostgreSQL's row."""
    for key, column in COUNTER_COLUMNS.items():
        assert await counter(page, key) == row[column], key
    for key, column in RATE_COLUMNS.items():
        text = await page.text_content(f"#rate-{key}") or ""
        assert float(text.replace("%", "").replace(",", "")) == pytest.approx(row[column]), key


async def table_statuses(page: Page) -> list[str]:
    return await page.eval_on_selector_all(
        "#recipients tbody tr[data-status]", "rows => rows.map(r => r.dataset.status)"
    )


async def register_campaign(sender: Sender, campaign: str, workspace: str) -> None:
    """The campaign, its 40 messages (variants A and B alternating, one template, every message
    tagged promo and the first ten vip too) and their first acks, as a sender posts them."""
    dispatched = datetime.now(UTC) - timedelta(seconds=30)
    registration = {
        "campaign_id": campaign,
        "workspace_id": workspace,
        "name": "Spring sale reminder",
        "total_recipients": RECIPIENTS,
        "uuid": f"uuid-{campaign}",
    }
    await sender.post("/v1/campaigns", registration)
    dispatches = [
        {
            "message_id": f"m{i:03}",
            "campaign_id": campaign,
            "workspace_id": workspace,
            "recipient": f"+55119{i:07}",
            "dispatched_at": (dispatched + timedelta(seconds=i / 4)).isoformat(),
            "template": TEMPLATE,
            "variant": "AB"[i % 2],
            "tags": ["promo", "vip"] if i < 10 else ["promo"],
        }
        for i in range(RECIPIENTS)
    ]
    await sender.post("/v1/dispatches", dispatches)
    # 0-29 sent, 0-19 delivered, 0-9 read, 30-34 failed (two errors), 35-39 pending
    await sender.statuses("sent", range(30))
    await sender.statuses("delivered", range(20))
    await sender.statuses("read", range(10))
    undeliverable = {"error_code": "131026", "error_title": "Message undeliverable"}
    await sender.statuses("failed", range(30, 33), **undeliverable)
    reengagement = {"error_code": "131047", "error_title": "Re-engagement message"}
    await sender.statuses("failed", range(33, 35), **reengagement)


# Runs in the page: the insight panels' figures as shown (text, and a percentile's bucket bounds).
SHOWN_INSIGHTS_JS = """() => {
  const all = (selector) => [...document.querySelectorAll(selector)];
  const text = (el) => el?.textContent ?? '';
  const bounds = (el) => [el.dataset.lower, el.dataset.upper];
  const fields = (cells) => Object.fromEntries(
    cells.map((c) => [c.dataset.field, c.dataset.lower === undefined ? text(c) : bounds(c)]));
  const bucketRows = all('#dist-buckets tbody tr');
  const distributions = {};
  all('#distributions tbody tr').forEach((row, stage) => {
    const key = row.dataset.stage;
    distributions[key] = {
      count: text(document.getElementById(`dist-${key}-count`)),
      buckets: bucketRows.map((r) => text(r.cells[stage + 1])),
    };
    for (const p of ['p50', 'p90', 'p99']) {
      distributions[key][p] = bounds(document.getElementById(`dist-${key}-${p}`));
    }
  });
  const variants = {};
  for (const cell of all('#variants td[data-variant]')) {
    variants[cell.dataset.variant] ??= [];
    variants[cell.dataset.variant].push(cell);
  }
  return {
    distributions,
    failures: all('#failures tbody tr').map((r) => [...r.cells].map(text)),
    skips: all('#skips tbody tr').map((r) => [...r.cells].map(text)),
    variants: Object.fromEntries(Object.entries(variants).map(([v, cells]) => [v, fields(cells)])),
    tags: Object.fromEntries(
      all('#tags tbody tr').map((r) => [r.dataset.group, fields([...r.querySelectorAll('td')])])),
  };
}"""
STAGES = ("time_to_sent", "time_to_delivered", "time_to_read")


def bounds_shown(bounds: Bounds | None) -> list[str]:
    """A percentile's bucket as the page's data attributes hold it."""
    if bounds is None:
        return ["", ""]
    return [str(bounds["lower"]), "" if bounds["upper"] is None else str(bounds["upper"])]


def group_shown(counters: Counters, time_to_read: list[int]) -> dict[str, Any]:
    """A variant's, tag's or template's figures (docs/insights.md) as the page should show them."""
    return {
        "dispatched": counters.dispatched,
        "delivered": counters.delivered,
        "read": counters.read,
        "delivery_rate": rate(counters.delivered, counters.sent),
        "read_rate": rate(counters.read, counters.delivered),
        "median_read": bounds_shown(percentiles(time_to_read)["p50"]),
    }


def groups_shown(groups: list[GroupStatistics], kind: str) -> dict[str, dict[str, Any]]:
    return {g.value: group_shown(g.counters, g.time_to_read) for g in groups if g.kind == kind}


def expected_insights(stored: Any) -> dict[str, Any]:
    """What the insight panels must show for PostgreSQL's ``campaign_stats.insights``."""
    insights = msgspec.convert(stored, Insights)
    distributions = {}
    for stage in STAGES:
        buckets = getattr(insights, stage)
        shown = {name: bounds_shown(b) for name, b in percentiles(buckets).items()}
        distributions[stage] = {"count": sum(buckets), "buckets": buckets} | shown
    return {
        "distributions": distributions,
        "failures": [
            [f.code or "–", f.title or "no description", f.count] for f in insights.failures
        ],
        "skips": [
            [k.code or "–", k.reason or "no description", k.count] for k in insights.skip_reasons
        ],
        "variants": groups_shown(insights.groups, "variant"),
        "tags": groups_shown(insights.groups, "tag"),
    }


def figure(value: str) -> int | float:
    """A count ("1,234") or a rate ("33.33%") as the page writes it, as a number."""
    return float(value.replace("%", "").replace(",", "")) if "%" in value else digits(value)


def group_figures(fields: dict[str, Any]) -> dict[str, Any]:
    return {k: v if isinstance(v, list) else figure(v) for k, v in fields.items()}


def parse_shown(shown: dict[str, Any]) -> dict[str, Any]:
    """The page's texts as numbers, in the shape of :func:`expected_insights`."""
    return {
        "distributions": {
            stage: d | {"count": digits(d["count"]), "buckets": [digits(b) for b in d["buckets"]]}
            for stage, d in shown["distributions"].items()
        },
        "failures": [[code, title, digits(n.split()[0])] for code, title, n in shown["failures"]],
        "skips": [[code, reason, digits(n.split()[0])] for code, reason, n in shown["skips"]],
        "variants": {v: group_figures(f) for v, f in shown["variants"].items()},
        "tags": {t: group_figures(f) for t, f in shown["tags"].items()},
    }


async def insights_match(page: Page, stored: Any) -> dict[str, Any]:
    """The page's distributions, failures, skips, variants and tags equal PostgreSQL's insights
    (the variants and tags are re-read by the page at most every 5 s: polled, not timed)."""
    want = expected_insights(stored)

    async def shown() -> dict[str, Any]:
        return parse_shown(await page.evaluate(SHOWN_INSIGHTS_JS))

    await shows_eventually(shown, want, "the insight panels to show PostgreSQL's insights")
    return want


async def comparisons_match(
    page: Page, session: aiohttp.ClientSession, url: str, token: str
) -> None:
    """The variants' comparison on the page is the gateway's, sentence and verdict."""
    async with session.get(url, headers={"Authorization": f"Bearer {token}"}) as resp:
        assert resp.status == 200
        comparisons = (await resp.json())["comparisons"] or []
    shown = await page.eval_on_selector_all(
        "#variant-comparisons li",
        "items => items.map(li => [li.querySelector('.verdict').textContent,"
        " li.querySelector('.comparison-summary').textContent])",
    )
    verdict = {True: "Significant", False: "Could be chance"}
    assert shown == [[verdict[c["significant"]], c["summary"]] for c in comparisons]


async def rows_become(page: Page, n: int) -> None:
    await page.wait_for_function(
        "n => document.querySelectorAll('#recipients tbody tr[data-status]').length === n",
        arg=n,
        timeout=WAIT_MS,
    )


async def check_recipients(page: Page) -> None:
    """The status filter shows exactly the failed rows; paging walks 25 + 15 rows."""
    await rows_become(page, RECIPIENTS)
    await page.check('#status-filter input[value="failed"]')
    await rows_become(page, 5)
    assert await table_statuses(page) == ["failed"] * 5
    assert "131026" in (await page.text_content("#recipients tbody") or "")
    await page.check('#status-filter input[value=""]')
    await rows_become(page, RECIPIENTS)
    await page.select_option(".view-campaign select", "25")
    await rows_become(page, 25)
    await page.click("#page-next")
    await rows_become(page, 15)
    assert await page.is_disabled("#page-next")
    await page.click("#page-prev")
    await rows_become(page, 25)


async def check_csv(page: Page, engine: AsyncEngine, campaign: str) -> None:
    """The export link downloads every recipient with the statuses the database has."""
    async with page.expect_download() as download_info:
        await page.click("#csv-link")
    download = await download_info.value
    text = await asyncio.to_thread(Path(await download.path()).read_text)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == RECIPIENTS
    by_status: dict[str, int] = {}
    for r in rows:
        by_status[r["status"]] = by_status.get(r["status"], 0) + 1
    assert by_status == await status_counts(engine, campaign)


async def check_templates(page: Page, engine: AsyncEngine, campaign: str) -> None:
    """The campaigns list links the templates view; its one template's figures are the
    campaign's template group in PostgreSQL (the workspace has this one campaign)."""
    row = await stats_where(engine, campaign, total_read_count=20)
    groups = msgspec.convert(row["insights"], Insights).groups
    (template,) = [g for g in groups if g.kind == "template"]
    assert template.value == TEMPLATE
    want = {TEMPLATE: group_shown(template.counters, template.time_to_read) | {"campaigns": 1}}
    await page.click("#templates-link")

    async def shown() -> dict[str, Any]:
        rows = await page.eval_on_selector_all(
            "#templates tbody tr",
            "rows => rows.map(r => [r.dataset.group, [...r.querySelectorAll('td')].map(c =>"
            " [c.dataset.field, c.dataset.lower === undefined ? c.textContent"
            " : [c.dataset.lower, c.dataset.upper]])])",
        )
        return {name: group_figures(dict(fields)) for name, fields in rows}

    await shows_eventually(shown, want, "the templates view to show PostgreSQL's template")
    await page.screenshot(path=str(ARTIFACTS / "dashboard-templates.png"))


async def open_with_keyboard(page: Page, campaign: str) -> None:
    """From the list, Tab reaches the campaign's card and Enter opens it."""
    for _ in range(10):
        await page.keyboard.press("Tab")
        focused = await page.evaluate(
            "document.activeElement.closest('li[data-campaign-id]')?.dataset.campaignId ?? ''"
        )
        if focused == campaign:
            break
    else:
        raise AssertionError("Tab never reached the campaign card")
    await page.keyboard.press("Enter")
    await page.wait_for_selector("#count-pending", timeout=WAIT_MS)


async def test_dashboard_follows_the_pipeline(
    pipeline: Pipeline, engine: AsyncEngine, browser: Browser, unique: str
) -> None:
    campaign, workspace = f"c{unique}", f"w{unique}"
    async with aiohttp.ClientSession() as session:
        sender = Sender(session, pipeline.ingest_url)
        await register_campaign(sender, campaign, workspace)
        row = await stats_where(
            engine,
            campaign,
            total_sent_count=30,
            total_delivered_count=20,
            total_read_count=10,
            pending_count=5,
        )
        await until(
            lambda: _status_counts_are(engine, campaign, read=10, failed=5, pending=5),
            "message_status rows",
            PIPELINE_TIMEOUT,
        )

        context = await browser.new_context(
            viewport={"width": 1280, "height": 900}, locale="en-US", accept_downloads=True
        )
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        token = issue_token(TOKEN_SECRET, workspace, 3600)
        await page.goto(f"{pipeline.gateway_url}/?token={token}#/campaigns/{campaign}")
        await page.wait_for_selector('#conn[data-state="live"]', timeout=WAIT_MS)
        await expect_counter(page, "sent", 30)
        assert "token=" not in page.url  # taken out of the address bar
        await shows_database(page, row)
        assert await page.text_content("#campaign-title") == "Spring sale reminder"
        assert await page.text_content("#campaign-phase") == "Sending"
        stored = await insights_match(page, row["insights"])
        assert stored["distributions"]["time_to_read"]["count"] == row["total_read_count"]
        assert sum(f[2] for f in stored["failures"]) == row["total_failed_count"] == 5
        assert set(stored["variants"]) == {"A", "B"} and set(stored["tags"]) == {"promo", "vip"}
        assert await page.is_visible("#h-variants") and await page.is_visible("#h-tags")
        variants_url = f"{pipeline.gateway_url}/api/campaigns/{campaign}/variants"
        await comparisons_match(page, session, variants_url, token)
        await check_recipients(page)
        await check_csv(page, engine, campaign)

        # new events change the numbers without a reload
        await page.evaluate("window.sameDocument = true")
        await sender.statuses("delivered", range(20, 30))
        posted = time.monotonic()
        await expect_counter(page, "delivered", 30)
        print(f"\nlive update: events posted → page changed in {time.monotonic() - posted:.2f} s")
        row = await stats_where(engine, campaign, total_delivered_count=30)
        await shows_database(page, row)
        # the distributions and failures from the live snapshot alone, the variants re-read
        await insights_match(page, row["insights"])
        await comparisons_match(page, session, variants_url, token)
        assert await page.evaluate("window.sameDocument === true")

        # the gateway stops: offline; events meanwhile; it restarts: back in sync, no reload
        pipeline.stop("gateway")
        await page.wait_for_selector('#conn[data-state="offline"]', timeout=WAIT_MS)
        await sender.statuses("sent", range(35, 40))
        await sender.statuses("read", range(10, 15))
        row = await stats_where(engine, campaign, pending_count=0, total_read_count=15)
        pipeline.start("gateway")
        await page.wait_for_selector('#conn[data-state="live"]', timeout=WAIT_MS * 2)
        await expect_counter(page, "pending", 0)
        await expect_counter(page, "read", 15)
        await shows_database(page, row)
        await insights_match(page, row["insights"])
        assert await page.evaluate("window.sameDocument === true")
        assert await page.text_content("#campaign-phase") == "Completed"
        toast = page.locator(".toast-success")
        await toast.wait_for(timeout=WAIT_MS)
        assert "completed" in (await toast.text_content() or "")
        assert await page.is_hidden("text=Notify me when done")
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "dashboard-campaign.png"), full_page=True)

        # the campaign list shows it finished and live; the keyboard alone opens it
        await page.goto(f"{pipeline.gateway_url}/#/")
        card = page.locator(f'li[data-campaign-id="{campaign}"]')
        await card.wait_for(timeout=WAIT_MS)
        card_text = await card.text_content() or ""
        assert "Completed" in card_text and "100%" in card_text
        await page.screenshot(path=str(ARTIFACTS / "dashboard-list.png"))
        # the card follows the workspace channel live
        await sender.statuses("read", range(15, 20))
        await page.wait_for_function(
            "sel => document.querySelector(sel)?.textContent === '20'",
            arg=f'li[data-campaign-id="{campaign}"] .mini-read strong',
            timeout=WAIT_MS,
        )
        assert await page.evaluate("window.sameDocument === true")
        await check_templates(page, engine, campaign)
        await page.go_back()
        await card.wait_for(timeout=WAIT_MS)
        await open_with_keyboard(page, campaign)
        await expect_counter(page, "read", 20)

        # a phone-sized screen: the campaign page reads with no sideways scrolling
        await page.set_viewport_size({"width": 390, "height": 844})
        await expect_counter(page, "pending", 0)
        # (the charts follow a resize on the next animation frames)
        await page.wait_for_function(
            "document.documentElement.scrollWidth <= document.documentElement.clientWidth",
            timeout=WAIT_MS,
        )
        await page.screenshot(path=str(ARTIFACTS / "dashboard-campaign-phone.png"), full_page=True)
        await context.close()
    assert errors == []


async def _status_counts_are(engine: AsyncEngine, campaign: str, **want: int) -> bool:
    counts = await status_counts(engine, campaign)
    return all(counts.get(status, 0) == n for status, n in want.items())


# ------------------------------------------------------------------ the funnel with skips

FUNNEL_CAMPAIGN = "f1"
# 20 in the audience: 8 read, 3 delivered, 2 sent, 2 failed, 1 awaiting an update, 3 skipped
# (two reasons), 1 queued (no row yet); recipient 0 was skipped first and then dispatched after
# all, so its skip row is "attempted" and must appear nowhere.
FUNNEL_MESSAGES = ["read"] * 8 + ["delivered"] * 3 + ["sent"] * 2 + ["failed"] * 2 + ["pending"]
FUNNEL_SKIPS = [
    (16, "skipped", "no_whatsapp", "No WhatsApp account"),
    (17, "skipped", "no_whatsapp", "No WhatsApp account"),
    (18, "skipped", "opted_out", "Opted out of marketing"),
    (0, "attempted", "invalid_number", "Number looked invalid"),
]
RANK = {"pending": 0, "sent": 1, "delivered": 2, "read": 3, "failed": 0}


def skip_reasons_of(skips: list[tuple[str, str]]) -> list[SkipReason]:
    """The skip reasons docs/insights.md says a snapshot carries for these (code, reason)
    skips, one per recipient: the most frequent first, then by code and reason."""
    counted = sorted(Counter(skips).items(), key=lambda item: (-item[1], item[0]))
    return [SkipReason(code=code, reason=reason, count=n) for (code, reason), n in counted]


# The funnel's snapshots carry only the skip reasons: no message was labelled, and the
# distributions stay empty.
FUNNEL_INSIGHTS = Insights(
    time_to_sent=[0] * BUCKETS,
    time_to_delivered=[0] * BUCKETS,
    time_to_read=[0] * BUCKETS,
    skip_reasons=skip_reasons_of(
        [(c, r) for _, status, c, r in FUNNEL_SKIPS if status == "skipped"]
    ),
)
FUNNEL_FIELDS = {  # funnel element id → campaign_stats column
    "funnel-audience": "total_message_count",
    "funnel-sent": "total_sent_count",
    "funnel-delivered": "total_delivered_count",
    "funnel-read": "total_read_count",
    "funnel-failed": "total_failed_count",
    "funnel-skipped": "skipped_count",
    "count-queued": "queued_count",
    "count-awaiting": "awaiting_update_count",
}


def funnel_rows(now: datetime) -> list[dict[str, Any]]:
    """message_status rows as the sink writes them: messages, then skip rows."""
    times = ("dispatched_at", "sent_at", "delivered_at", "read_at", "failed_at")
    texts = ("error_code", "error_title", "skip_reason_code", "skip_reason")
    base = {"campaign_id": FUNNEL_CAMPAIGN, "workspace_id": "W", "updated_at": now}
    base |= dict.fromkeys(times) | dict.fromkeys(texts, "") | {"skipped": False, "attempted": False}
    rows = []
    for i, status in enumerate(FUNNEL_MESSAGES):
        rank = RANK[status]
        rows.append(
            base
            | {
                "message_id": f"wamid.{i:02}",
                "recipient": f"+5511900{i:02}",
                "status": status,
                "max_rank": rank,
                "failed": status == "failed",
                "dispatched_at": now - timedelta(seconds=60),
                "sent_at": now - timedelta(seconds=50) if rank >= 1 else None,
                "delivered_at": now - timedelta(seconds=40) if rank >= 2 else None,
                "read_at": now - timedelta(seconds=30) if rank >= 3 else None,
                "failed_at": now if status == "failed" else None,
                "error_code": "131026" if status == "failed" else "",
                "error_title": "Message undeliverable" if status == "failed" else "",
            }
        )
    for i, status, code, reason in FUNNEL_SKIPS:
        recipient = f"+5511900{i:02}"
        rows.append(
            base
            | {
                "message_id": f"skip:{FUNNEL_CAMPAIGN}:{recipient}",
                "recipient": recipient,
                "status": status,
                "max_rank": 0,
                "failed": False,
                "skipped": True,
                "attempted": status == "attempted",
                "skip_reason_code": code,
                "skip_reason": reason,
            }
        )
    return rows


def funnel_snapshot(seq: int, counters: Counters, started: datetime, done: bool) -> Snapshot:
    now = datetime.now(UTC)
    return Snapshot(
        campaign_id=FUNNEL_CAMPAIGN,
        campaign_uuid="",
        workspace_id="W",
        seq=seq,
        window=WindowCounts(start=now - timedelta(seconds=1), end=now),
        statistics=statistics(
            counters, 20, now, started_at=started, completed_at=now if done else None
        ),
        timestamp=now,
        campaign_name="Funnel check",
        insights=FUNNEL_INSIGHTS,
    )


async def page_number(page: Page, element_id: str) -> int:
    return digits(await page.text_content(f"#{element_id}"))


async def funnel_matches(page: Page, row: dict[str, Any], rest: dict[str, Any]) -> None:
    """Every funnel figure equals PostgreSQL's campaign_stats row and the REST snapshot."""
    await page.wait_for_function(
        "n => document.querySelector('#funnel-audience')?.textContent === String(n)",
        arg=row["total_message_count"],
        timeout=WAIT_MS,
    )
    for element_id, column in FUNNEL_FIELDS.items():
        shown = await page_number(page, element_id)
        assert shown == row[column] == rest[column], element_id
    attempted = row["total_message_count"] - row["queued_count"] - row["skipped_count"]
    assert await page_number(page, "funnel-attempted") == attempted == rest["dispatched_count"]


async def skipped_filter_lists(page: Page, reasons: list[tuple[str, str]]) -> None:
    """The recipient table filtered by skipped: exactly these (code, reason) rows, by id order."""
    await page.check('#status-filter input[value="skipped"]')
    await rows_become(page, len(reasons))
    assert await table_statuses(page) == ["skipped"] * len(reasons)
    shown = await page.eval_on_selector_all(
        "#recipients tbody tr", "rows => rows.map(r => r.querySelector('.error-cell').textContent)"
    )
    assert shown == [f"{code} {reason}" for code, reason in reasons]
    assert "⊘" in (await page.text_content("#recipients tbody") or "")


async def test_dashboard_funnel_matches_postgres_and_lists_skip_reasons(
    settings: DatabaseSettings, engine: AsyncEngine, browser: Browser
) -> None:
    """Rows and snapshots are written directly (as the sink and worker write them), so the page
    is checked against PostgreSQL and the REST API with skips in the data."""
    sync = gw.prepare_database(settings.database_url)
    gw.insert_campaign(sync, FUNNEL_CAMPAIGN, "W")
    now = datetime.now(UTC)
    with sync.begin() as conn:
        conn.execute(message_status.insert(), funnel_rows(now))
    started = now - timedelta(minutes=2, seconds=5)
    counters = Counters(dispatched=16, sent=13, delivered=11, read=8, failed=2, skipped=3)
    gw.store_snapshot(sync, funnel_snapshot(1, counters, started, done=False))
    row = await stats_row(engine, FUNNEL_CAMPAIGN)
    assert row is not None and (row["queued_count"], row["awaiting_update_count"]) == (1, 1)

    async with (
        gw.running_gateway(gw.gateway_settings(settings)) as (_, base),
        aiohttp.ClientSession() as http,
    ):
        headers = {"Authorization": f"Bearer {gw.token('W')}"}
        async with http.get(f"{base}/api/campaigns/{FUNNEL_CAMPAIGN}", headers=headers) as resp:
            body = await resp.json()
        assert resp.status == 200, body
        rest = body["statistics"]
        context = await browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        await page.goto(f"{base}/?token={gw.token('W')}#/campaigns/{FUNNEL_CAMPAIGN}")
        await funnel_matches(page, row, rest)
        assert await counter(page, "skipped") == 3
        assert await page.text_content("#campaign-phase") == "Sending"
        # insights with skip reasons only: empty distributions, no variant or tag panel
        assert await page.text_content("#dist-time_to_read-count") == "0"
        assert await page.text_content("#dist-time_to_read-p50") == "–"
        assert await page.is_hidden("#h-variants") and await page.is_hidden("#h-tags")
        assert await page.text_content("#completed-at") == "not yet"
        assert (await page.text_content("#duration") or "").endswith("so far")

        # Skips by reason: the snapshot's, exactly PostgreSQL's campaign_stats.insights
        await insights_match(page, row["insights"])
        assert await page.locator("#skips tbody tr").count() == 2

        # the recipient table: every row but the attempted skip; filtered, the skips and reasons
        await rows_become(page, 19)
        assert "invalid_number" not in (await page.text_content("#recipients tbody") or "")
        await skipped_filter_lists(
            page, [(code, reason) for _, _, code, reason in FUNNEL_SKIPS[:3]]
        )

        # completion: completed_at arrives live; the notification fires once, not per snapshot
        done = Counters(dispatched=17, sent=15, delivered=12, read=8, failed=2, skipped=3)
        gw.produce_snapshots(settings, [funnel_snapshot(2, done, started, done=True)])
        await page.wait_for_selector("#campaign-phase:text('Completed')", timeout=WAIT_MS)
        read_more = Counters(dispatched=17, sent=15, delivered=12, read=9, failed=2, skipped=3)
        gw.produce_snapshots(settings, [funnel_snapshot(3, read_more, started, done=True)])
        await expect_counter(page, "read", 9)
        assert await page.locator(".toast-success").count() == 1
        assert "3 skipped" in (await page.text_content(".toast-success") or "")
        assert await page_number(page, "count-queued") == 0
        assert await page_number(page, "funnel-attempted") == 17
        assert await page.text_content("#completed-at") != "not yet"
        assert "so far" not in (await page.text_content("#duration") or "")
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "dashboard-funnel.png"), full_page=True)
        await context.close()
    assert errors == []


# ------------------------------------------------------------------ the page's pure helpers

STATIC = Path(__file__).resolve().parents[2] / "gateway" / "static"

# Runs in the page: the helpers of gateway/static/js/format.js on plain data.
HELPERS_JS = """async (histograms) => {
  const f = await import('/static/js/format.js');
  const insights = await import('/static/js/insights.js');
  const t0 = Date.parse('2026-01-01T00:00:00Z');
  const at = (s) => new Date(t0 + s * 1000).toISOString();
  const point = (s, sent, total) => ({
    start: at(s), end: at(s + 1), sent, delivered: 0, read: 0, failed: 0,
    total_sent_count: total, total_delivered_count: 0, total_read_count: 0, total_failed_count: 0,
  });
  const gaps = f.bucketSeries([point(5, 3, 5), point(0, 2, 2)]);
  const long = f.bucketSeries(Array.from({ length: 1000 }, (_, i) => point(i, 1, i + 1)), 90);
  const stats = (pending, total) => ({
    total_message_count: total, total_sent_count: 6, total_delivered_count: 4,
    total_read_count: 2, total_failed_count: 4 - pending, pending_count: pending,
  });
  return {
    gaps: { step: gaps.stepSeconds, sent: gaps.window.sent, cumulative: gaps.cumulative.sent },
    long: {
      step: long.stepSeconds,
      buckets: long.starts.length,
      first: long.window.sent[0],
      sum: long.window.sent.reduce((a, b) => a + b, 0),
      last: long.cumulative.sent.at(-1),
    },
    bounds: insights.BOUNDS_SECONDS,
    labels: insights.bucketLabels(),
    distributions: histograms.map((h) => insights.distribution(h)),
    none: insights.distribution(null),
    icons: ['sent', 'delivered', 'read', 'failed', 'skipped'].map(
      (s) => `${f.statusMeta(s).icon} ${f.statusMeta(s).label}`,
    ),
    done: [[0, 10], [1, 10], [0, 0]].map(([p, t]) => f.progress(stats(p, t)).done),
    doneAt: f.progress({ ...stats(1, 10), completed_at: at(9) }).done,
    funnel: f.funnel({
      total_message_count: 20, skipped_count: 3, queued_count: 1, awaiting_update_count: 1,
      total_sent_count: 13, total_delivered_count: 11, total_read_count: 8, total_failed_count: 2,
    }),
    took: f.lifecycle({ started_at: at(0), completed_at: at(125) }).seconds,
    soFar: f.lifecycle({ started_at: at(0) }, t0 + 10000).seconds,
  };
}"""


def random_histograms() -> list[list[int]]:
    """Histograms over the 16 buckets: the edge cases, then random ones, many sparse."""
    buckets = len(BOUNDS_SECONDS) + 1
    rng = random.Random(20261125)
    edges = [[0] * buckets, [1] + [0] * (buckets - 1), [0] * (buckets - 1) + [1], [1] * buckets]
    weights = (0, 0, 0, 1, 2, 3, 10, 99, 1000)
    return edges + [[rng.choice(weights) for _ in range(buckets)] for _ in range(300)]


@pytest.fixture
async def static_site() -> AsyncIterator[str]:
    """The page's own files over HTTP (browsers import ES modules only from a server)."""
    app = aiohttp.web.Application()
    app.router.add_static("/static", STATIC)
    runner = aiohttp.web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await aiohttp.web.TCPSite(runner, "127.0.0.1", port).start()
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


async def test_dashboard_helpers(static_site: str, browser: Browser) -> None:
    page = await browser.new_page()
    await page.goto(f"{static_site}/static/index.html")
    histograms = random_histograms()
    got = await page.evaluate(HELPERS_JS, histograms)
    # idle windows are filled with zeros, cumulative totals carried forward
    assert got["gaps"] == {"step": 1, "sent": [2, 0, 0, 0, 0, 3], "cumulative": [2, 2, 2, 2, 2, 5]}
    # 1000 one-second windows fold into 15 s buckets (at most 90), losing no count
    assert got["long"] == {"step": 15, "buckets": 67, "first": 15, "sum": 1000, "last": 1000}
    # the page's buckets and percentiles are contract/insights.py's
    assert got["bounds"] == list(BOUNDS_SECONDS)
    assert got["distributions"] == [
        {"count": sum(h), "buckets": h} | dict(percentiles(h)) for h in histograms
    ]
    assert got["none"] == {"count": 0, "buckets": [0] * 16, "p50": None, "p90": None, "p99": None}
    assert got["labels"] == [
        "< 1 s", "1–2 s", "2–5 s", "5–10 s", "10–30 s", "30–60 s", "1–2 min", "2–5 min",
        "5–10 min", "10–30 min", "30–60 min", "1–2 h", "2–6 h", "6–12 h", "12–24 h", "≥ 1 d",
    ]  # fmt: skip
    assert got["icons"] == ["✓ sent", "✓✓ delivered", "✓✓ read", "✗ failed", "⊘ skipped"]
    assert got["done"] == [True, False, False]
    assert got["doneAt"] is True  # completed_at, when the worker stamps it, decides
    assert got["funnel"] == {
        "audience": 20,
        "attempted": 16,
        "sent": 13,
        "delivered": 11,
        "read": 8,
        "failed": 2,
        "skipped": 3,
        "queued": 1,
        "awaiting": 1,
    }
    assert (got["took"], got["soFar"]) == (125, 10)
    await page.close()


async def test_dashboard_funnel_end_to_end_with_skips(
    pipeline: Pipeline, engine: AsyncEngine, browser: Browser, unique: str
) -> None:
    """Skips posted to ingest go through the worker and the sink: the page's funnel and *Skips
    by reason* equal the last snapshot in PostgreSQL and on the REST API, PostgreSQL's skip
    reasons are the posted skips', and the skipped filter lists the reasons."""
    campaign, workspace = f"f{unique}", f"w{unique}"
    phone = [f"+55119{i:07}" for i in range(12)]
    async with aiohttp.ClientSession() as session:
        sender = Sender(session, pipeline.ingest_url)
        registration = {"campaign_id": campaign, "workspace_id": workspace, "total_recipients": 12}
        await sender.post("/v1/campaigns", registration)
        ids = {"campaign_id": campaign, "workspace_id": workspace}
        # phone[7] is skipped first and then dispatched after all: its skip no longer counts
        skips = [
            (7, "invalid_number", "Number looked invalid"),
            (8, "no_whatsapp", "No WhatsApp account"),
            (9, "no_whatsapp", "No WhatsApp account"),
            (10, "opted_out", "Opted out"),
        ]
        await sender.post(
            "/v1/skips",
            [ids | {"recipient": phone[i], "reason_code": c, "reason": r} for i, c, r in skips],
        )
        await stats_where(engine, campaign, skipped_count=4)
        await sender.post(
            "/v1/dispatches",
            [ids | {"message_id": f"m{i:03}", "recipient": phone[i]} for i in range(8)],
        )
        await sender.statuses("sent", range(6))
        await sender.statuses("delivered", range(4))
        await sender.statuses("read", range(2))
        await sender.statuses("failed", range(6, 7), error_code="131026", error_title="Gone")
        # phone[11] is never dispatched nor skipped (queued); m007 awaits its first update
        row = await stats_where(
            engine,
            campaign,
            total_message_count=12,
            skipped_count=3,
            queued_count=1,
            awaiting_update_count=1,
            total_sent_count=6,
            total_failed_count=1,
            total_read_count=2,
        )
        # the worker's exact skip reasons: the posted skips but the one dispatched after all
        stored = msgspec.convert(row["insights"], Insights)
        assert stored.skip_reasons == skip_reasons_of([(c, r) for _, c, r in skips[1:]])
        await until(
            lambda: _status_counts_are(engine, campaign, skipped=3, attempted=1, read=2),
            "message_status rows",
            PIPELINE_TIMEOUT,
        )
        token = issue_token(TOKEN_SECRET, workspace, 3600)
        headers = {"Authorization": f"Bearer {token}"}
        url = f"{pipeline.gateway_url}/api/campaigns/{campaign}"
        async with session.get(url, headers=headers) as resp:
            rest = (await resp.json())["statistics"]

        context = await browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        await page.goto(f"{pipeline.gateway_url}/?token={token}#/campaigns/{campaign}")
        await funnel_matches(page, row, rest)
        assert await page.text_content("#started-at") != "–"
        # Skips by reason (and every other insight panel) shows PostgreSQL's insights
        await insights_match(page, row["insights"])
        await skipped_filter_lists(page, [(c, r) for _, c, r in skips[1:]])
        await context.close()
    assert errors == []

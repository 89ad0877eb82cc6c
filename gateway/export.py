"""The CSV export of a campaign's recipients: streamed for any campaign size, and kept from
starving everything else.

A download is as slow as its client, and holds a database connection (a server-side cursor) for
as long as it lasts. So exports read through an engine of their own, with one connection per
slot (``GATEWAY_EXPORT_SLOTS``): stalled downloads can hold at most those, never the pool that
serves REST reads. Beyond the slots an export is refused at once (503, ``Retry-After``), and a
client that accepts nothing for ``GATEWAY_EXPORT_WRITE_TIMEOUT_SECONDS`` is cut, which frees its
slot.

Cells are written so that a spreadsheet shows them as text: recipients, error titles, skip
reasons and a message's template, variant and tags come from providers and senders as received,
and a cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return would run as a
formula (docs/gateway.md, "Hardening"). A message's tags share one cell, joined by ``;``.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import logging
import re
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from aiohttp import web

from gateway import db
from gateway.capacity import OverCapacity
from gateway.keys import EXPORT_ENGINE, EXPORT_SLOTS, SETTINGS
from gateway.params import CSV_PARAMETERS, ParamError, csv_status, single_values
from gateway.rest import campaign_of, http_error, param_error

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 10
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# A signed number (a phone number, an error code like -1) is data to any spreadsheet, not a formula.
PLAIN_NUMBER = re.compile(r"[+-]?\d[\d ]*(?:\.\d+)?")
TAG_SEPARATOR = ";"


def spreadsheet_safe(cell: str) -> str:
    """``cell``, prefixed with ``'`` if a spreadsheet would read it as a formula."""
    if cell.startswith(FORMULA_STARTS) and not PLAIN_NUMBER.fullmatch(cell):
        return "'" + cell
    return cell


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return db.iso(value) or ""
    if isinstance(value, list):  # a message's tags: one cell, as a spreadsheet filters them
        return spreadsheet_safe(TAG_SEPARATOR.join(map(str, value)))
    return spreadsheet_safe(str(value))


def csv_chunk(rows: Iterable[Sequence[Any]]) -> bytes:
    """CSV text of some rows (times in UTC ISO-8601, text cells spreadsheet-safe)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")  # RFC 4180: a lone CR in a cell is quoted
    for row in rows:
        writer.writerow(_cell(v) for v in row)
    return buffer.getvalue().encode()


async def campaign_recipients_csv(request: web.Request) -> web.StreamResponse:
    """Streamed a batch at a time: memory stays flat whatever the campaign size, and a slow
    download holds the database cursor back (``write`` waits for the socket), never piles up."""
    campaign = await campaign_of(request, query_token=True)
    try:
        status = csv_status(single_values(request.query, CSV_PARAMETERS))
    except ParamError as exc:
        raise param_error(exc) from exc
    try:
        with request.app[EXPORT_SLOTS].slot():
            return await _stream(request, campaign.campaign_id, status)
    except OverCapacity as exc:
        retry = {"Retry-After": str(RETRY_AFTER_SECONDS)}
        raise http_error(web.HTTPServiceUnavailable, "busy", str(exc), retry) from exc


async def _stream(request: web.Request, campaign_id: str, status: str | None) -> web.StreamResponse:
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": f'attachment; filename="campaign-{campaign_id}-recipients.csv"',
        }
    )
    response.enable_chunked_encoding()
    await response.prepare(request)
    rows = db.stream_recipients(request.app[EXPORT_ENGINE], campaign_id, status)
    async with contextlib.aclosing(rows) as batches:
        await _write(request, response, csv_chunk([db.RECIPIENT_COLUMNS]))
        async for batch in batches:
            await _write(request, response, csv_chunk(batch))
    await response.write_eof()
    return response


async def _write(request: web.Request, response: web.StreamResponse, chunk: bytes) -> None:
    """Write ``chunk``, or cut the client if it accepts nothing for the write timeout."""
    limit = request.app[SETTINGS].gateway_export_write_timeout_seconds
    try:
        async with asyncio.timeout(limit):
            await response.write(chunk)
    except TimeoutError:
        log.info("cutting a CSV download that accepted nothing for %ss", limit)
        if request.transport is not None:
            request.transport.abort()
        raise ConnectionResetError("CSV download stalled") from None


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/campaigns/{campaign_id}/recipients.csv", campaign_recipients_csv)

"""The REST API (spec §7): campaigns of the token's workspace, their statistics, time series,
recipients and the streamed CSV export. Every handler resolves the campaign through
:mod:`gateway.access`, so another workspace's campaign is a 404 like an unknown one.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from typing import Any

import msgspec
from aiohttp import web

from gateway import db
from gateway.access import campaign_for
from gateway.auth import AuthError, bearer_token, verify_token
from gateway.keys import ENGINE, FEED, SETTINGS
from gateway.params import ParamError, csv_status, recipients_query, series_query


def json_error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": code, "message": message}, status=status)


def http_error(status: type[web.HTTPException], code: str, message: str) -> web.HTTPException:
    return status(
        text=json.dumps({"error": code, "message": message}), content_type="application/json"
    )


def workspace_of(request: web.Request) -> str:
    """The workspace the request's token grants; 401 without a valid token."""
    try:
        token = bearer_token(request.headers, request.query)
        return verify_token(request.app[SETTINGS].token_secret, token)
    except AuthError as exc:
        raise http_error(web.HTTPUnauthorized, "unauthorized", str(exc)) from exc


async def _campaign(request: web.Request) -> db.CampaignRef:
    workspace = workspace_of(request)
    found = await campaign_for(request.app, request.match_info["campaign_id"], workspace)
    if found is None:
        raise http_error(web.HTTPNotFound, "not_found", "no such campaign in this workspace")
    return found


def _param_error(exc: ParamError) -> web.HTTPException:
    return http_error(web.HTTPBadRequest, "invalid_parameter", str(exc))


async def campaigns_list(request: web.Request) -> web.Response:
    workspace = workspace_of(request)
    store = request.app[FEED].store
    out = []
    for row in await db.list_campaigns(request.app[ENGINE], workspace):
        snapshot = row["snapshot"]
        held = store.get(row["campaign_id"])
        if held is not None and (snapshot is None or held.seq > snapshot.seq):
            snapshot = held
        out.append(
            {
                "campaign_id": row["campaign_id"],
                "campaign_uuid": row["campaign_uuid"],
                "workspace_id": row["workspace_id"],
                "name": row["name"] or (snapshot.campaign_name if snapshot else ""),
                "total_recipients": row["total_recipients"],
                "statistics": msgspec.to_builtins(snapshot.statistics) if snapshot else None,
                "updated_at": db.iso(row["updated_at"]),
            }
        )
    return web.json_response({"campaigns": out})


async def campaign_snapshot(request: web.Request) -> web.Response:
    campaign = await _campaign(request)
    snapshot = request.app[FEED].store.get(campaign.campaign_id)
    if snapshot is None:
        snapshot = await db.stored_snapshot(request.app[ENGINE], campaign.campaign_id)
    if snapshot is None:
        return json_error(404, "no_snapshot", "the campaign has no statistics yet")
    return web.Response(body=msgspec.json.encode(snapshot), content_type="application/json")


async def campaign_series(request: web.Request) -> web.Response:
    campaign = await _campaign(request)
    try:
        q = series_query(request.query, datetime.now(UTC), request.app[SETTINGS].window_seconds)
    except ParamError as exc:
        raise _param_error(exc) from exc
    points = await db.series(request.app[ENGINE], campaign.campaign_id, q.start, q.end, q.step)
    return web.json_response(
        {"campaign_id": campaign.campaign_id, "step": q.step, "points": points}
    )


async def campaign_recipients(request: web.Request) -> web.Response:
    campaign = await _campaign(request)
    try:
        q = recipients_query(request.query)
    except ParamError as exc:
        raise _param_error(exc) from exc
    page, cursor = await db.recipients(
        request.app[ENGINE], campaign.campaign_id, q.status, q.after, q.limit
    )
    return web.json_response({"recipients": page, "next": cursor})


def csv_chunk(rows: Any) -> bytes:
    """CSV text of some rows (times in UTC ISO-8601)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for row in rows:
        writer.writerow(
            "" if v is None else db.iso(v) if isinstance(v, datetime) else v for v in row
        )
    return buffer.getvalue().encode()


async def campaign_recipients_csv(request: web.Request) -> web.StreamResponse:
    """Streamed a batch at a time: memory stays flat whatever the campaign size, and a slow
    download holds the database cursor back (``write`` waits for the socket), never piles up."""
    campaign = await _campaign(request)
    try:
        status = csv_status(request.query)
    except ParamError as exc:
        raise _param_error(exc) from exc
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": (
                f'attachment; filename="campaign-{campaign.campaign_id}-recipients.csv"'
            ),
        }
    )
    response.enable_chunked_encoding()
    await response.prepare(request)
    await response.write(csv_chunk([db.RECIPIENT_COLUMNS]))
    async for rows in db.stream_recipients(request.app[ENGINE], campaign.campaign_id, status):
        await response.write(csv_chunk(rows))
    await response.write_eof()
    return response


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/campaigns", campaigns_list)
    app.router.add_get("/api/campaigns/{campaign_id}", campaign_snapshot)
    app.router.add_get("/api/campaigns/{campaign_id}/series", campaign_series)
    app.router.add_get("/api/campaigns/{campaign_id}/recipients", campaign_recipients)
    app.router.add_get("/api/campaigns/{campaign_id}/recipients.csv", campaign_recipients_csv)

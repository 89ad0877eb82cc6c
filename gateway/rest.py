"""The REST API (docs/gateway.md): campaigns of the token's workspace, their statistics, time
series and recipients (the CSV export is :mod:`gateway.export`). Every handler resolves the
campaign through :mod:`gateway.access`, so another workspace's campaign is a 404 like an unknown
one.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime

import msgspec
from aiohttp import web

from contract.events import Snapshot
from gateway import db
from gateway.access import campaign_for
from gateway.auth import AuthError, Grant, bearer_token, verify_token
from gateway.keys import ENGINE, FEED, REVOKED, SETTINGS
from gateway.params import (
    RECIPIENTS_PARAMETERS,
    SERIES_PARAMETERS,
    ParamError,
    recipients_query,
    series_query,
    single_values,
)


def json_error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": code, "message": message}, status=status)


def http_error(
    status: type[web.HTTPException],
    code: str,
    message: str,
    headers: Mapping[str, str] | None = None,
) -> web.HTTPException:
    return status(
        text=json.dumps({"error": code, "message": message}),
        content_type="application/json",
        headers=headers,
    )


def grant_of(request: web.Request, *, query_token: bool = False) -> Grant:
    """What the request's token grants; 401 without a valid, unrevoked token. ``query_token``
    also takes ``?token=`` (only where a browser cannot send a header)."""
    try:
        token = bearer_token(request.headers, request.query, query_allowed=query_token)
        grant = verify_token(request.app[SETTINGS].token_secret, token)
        return request.app[REVOKED].check(grant)
    except AuthError as exc:
        raise http_error(web.HTTPUnauthorized, "unauthorized", str(exc)) from exc


async def campaign_of(request: web.Request, *, query_token: bool = False) -> db.CampaignRef:
    """The campaign of the path, in the token's workspace; 404 for any other."""
    workspace = grant_of(request, query_token=query_token).workspace
    found = await campaign_for(request.app, request.match_info["campaign_id"], workspace)
    if found is None:
        raise http_error(web.HTTPNotFound, "not_found", "no such campaign in this workspace")
    return found


def param_error(exc: ParamError) -> web.HTTPException:
    return http_error(web.HTTPBadRequest, "invalid_parameter", str(exc))


async def campaigns_list(request: web.Request) -> web.Response:
    workspace = grant_of(request).workspace
    store = request.app[FEED].store
    out = []
    for row in await db.list_campaigns(request.app[ENGINE], workspace):
        snapshot = row["snapshot"]
        held = store.get(workspace, row["campaign_id"])
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


async def latest_snapshot(app: web.Application, campaign: db.CampaignRef) -> Snapshot | None:
    """The campaign's latest snapshot: the one held in memory (which the feed keeps newest),
    else the stored one. Every endpoint that shows a snapshot or its insights reads it here, so
    they never disagree."""
    held = app[FEED].store.get(campaign.workspace_id, campaign.campaign_id)
    if held is not None:
        return held
    return await db.stored_snapshot(app[ENGINE], campaign.campaign_id)


async def campaign_snapshot(request: web.Request) -> web.Response:
    campaign = await campaign_of(request)
    snapshot = await latest_snapshot(request.app, campaign)
    if snapshot is None:
        return json_error(404, "no_snapshot", "the campaign has no statistics yet")
    return web.Response(body=msgspec.json.encode(snapshot), content_type="application/json")


async def campaign_series(request: web.Request) -> web.Response:
    campaign = await campaign_of(request)
    try:
        query = single_values(request.query, SERIES_PARAMETERS)
        q = series_query(query, datetime.now(UTC), request.app[SETTINGS].window_seconds)
    except ParamError as exc:
        raise param_error(exc) from exc
    points = await db.series(request.app[ENGINE], campaign.campaign_id, q.start, q.end, q.step)
    return web.json_response(
        {"campaign_id": campaign.campaign_id, "step": q.step, "points": points}
    )


async def campaign_recipients(request: web.Request) -> web.Response:
    campaign = await campaign_of(request)
    try:
        q = recipients_query(single_values(request.query, RECIPIENTS_PARAMETERS))
    except ParamError as exc:
        raise param_error(exc) from exc
    page, cursor = await db.recipients(
        request.app[ENGINE], campaign.campaign_id, q.status, q.after, q.limit
    )
    return web.json_response({"recipients": page, "next": cursor})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/campaigns", campaigns_list)
    app.router.add_get("/api/campaigns/{campaign_id}", campaign_snapshot)
    app.router.add_get("/api/campaigns/{campaign_id}/series", campaign_series)
    app.router.add_get("/api/campaigns/{campaign_id}/recipients", campaign_recipients)

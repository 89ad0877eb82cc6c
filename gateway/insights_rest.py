"""The insight endpoints of the REST API (docs/insights.md, "REST API"): a campaign's time
distributions, failures, variants and tags from its latest snapshot, and the templates of the
token's workspace summed from the stored insights. Campaigns resolve as everywhere in the REST
API (:func:`gateway.rest.campaign_of`): another workspace's is a 404.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from contract.events import Snapshot
from gateway import db
from gateway.breakdowns import (
    distributions_view,
    failures_view,
    tags_view,
    templates_view,
    variants_view,
)
from gateway.keys import ENGINE
from gateway.rest import campaign_of, grant_of, latest_snapshot

View = Callable[[str, Snapshot | None], dict[str, Any]]
CAMPAIGN_VIEWS: dict[str, View] = {
    "distributions": distributions_view,
    "failures": failures_view,
    "variants": variants_view,
    "tags": tags_view,
}


def _campaign_handler(view: View) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handler(request: web.Request) -> web.Response:
        campaign = await campaign_of(request)
        snapshot = await latest_snapshot(request.app, campaign)
        return web.json_response(view(campaign.campaign_id, snapshot))

    return handler


async def workspace_templates(request: web.Request) -> web.Response:
    workspace = grant_of(request).workspace
    return web.json_response(templates_view(await db.template_sums(request.app[ENGINE], workspace)))


def add_routes(app: web.Application) -> None:
    for name, view in CAMPAIGN_VIEWS.items():
        app.router.add_get(f"/api/campaigns/{{campaign_id}}/{name}", _campaign_handler(view))
    app.router.add_get("/api/templates", workspace_templates)

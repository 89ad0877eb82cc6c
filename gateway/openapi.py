"""The OpenAPI 3.1 document of the gateway's HTTP endpoints (``GET /openapi.json``).

Built from what the handlers themselves use: the snapshot and statistics schemas from the msgspec
types in ``contract.events``, a recipient's fields from the columns the queries select
(``gateway.db.RECIPIENT_COLUMNS`` and their SQL types), a series point's counts from
``contract.schema``, the parameters' bounds from ``gateway.params``, the insights' buckets and
counters from ``contract.insights`` and ``gateway.breakdowns``. The WebSocket endpoints
(``/ws``, ``/app/{key}``) are described in docs/gateway.md; OpenAPI has no words for them.
"""

from __future__ import annotations

from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

from contract.events import Snapshot
from contract.insights import BOUNDS_SECONDS, BUCKETS, PERCENTILES
from contract.schema import WINDOW_CHANGES, WINDOW_TOTALS, message_status
from gateway.breakdowns import COUNTER_NAMES, STAGES
from gateway.channels import MAX_CHANNEL_LENGTH
from gateway.db import MAX_TEMPLATES, RECIPIENT_COLUMNS
from gateway.params import MAX_PAGE, MAX_SERIES_POINTS, MAX_STEP, RECIPIENT_STATUSES
from gateway.pusher import SOCKET_ID
from gateway.significance import SIGNIFICANCE_LEVEL

REF = "#/components/schemas/{name}"
TIME = {"type": "string", "format": "date-time"}
NULLABLE_TIME = {"anyOf": [TIME, {"type": "null"}]}
TEXT = {"text/plain": {"schema": {"type": "string"}}}

_ERROR = {
    "type": "object",
    "required": ["error", "message"],
    "properties": {"error": {"type": "string"}, "message": {"type": "string"}},
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": REF.format(name=name)}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _object(properties: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "required": list(properties), "properties": properties}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": _json(_ref("Error"))}


def _recipient() -> dict[str, Any]:
    def column(name: str) -> dict[str, Any]:
        kind = message_status.c[name].type
        if isinstance(kind, sa.DateTime):
            return NULLABLE_TIME
        if isinstance(kind, JSONB):  # the tags
            return {"type": "array", "items": {"type": "string"}}
        return {"type": "string"}

    return _object({str(name): column(name) for name in RECIPIENT_COLUMNS})


def _series_point() -> dict[str, Any]:
    counts = {str(name): {"type": "integer"} for name in (*WINDOW_CHANGES, *WINDOW_TOTALS)}
    return _object({"start": TIME, "end": TIME} | counts)


def _campaign_summary() -> dict[str, Any]:
    return _object(
        {
            "campaign_id": {"type": "string"},
            "campaign_uuid": {"type": "string"},
            "workspace_id": {"type": "string"},
            "name": {"type": "string"},
            "total_recipients": {"type": "integer"},
            "statistics": {"anyOf": [_ref("Statistics"), {"type": "null"}]},
            "updated_at": NULLABLE_TIME,
        }
    )


def _bounds() -> dict[str, Any]:
    """A percentile's bucket (``contract.insights.Bounds``)."""
    upper = {"anyOf": [{"type": "integer"}, {"type": "null"}]}
    return {"anyOf": [_object({"lower": {"type": "integer"}, "upper": upper}), {"type": "null"}]}


def _distribution() -> dict[str, Any]:
    counts = {
        "type": "array",
        "items": {"type": "integer"},
        "minItems": BUCKETS,
        "maxItems": BUCKETS,
    }
    percentiles = {name: _ref("Bucket") for name, _ in PERCENTILES}
    return _object({"count": {"type": "integer"}, "buckets": counts} | percentiles)


def _group(label: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """A variant, tag or template with the figures of its messages."""
    return _object(
        {
            label: {"type": "string"},
            **(extra or {}),
            "counters": _object({str(name): {"type": "integer"} for name in COUNTER_NAMES}),
            "delivery_rate": {"type": "number"},
            "read_rate": {"type": "number"},
            "time_to_read": _ref("Distribution"),
        }
    )


def _array(items: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": items}


def _comparison() -> dict[str, Any]:
    number = {"type": "number"}
    return _object(
        {
            "a": {"type": "string", "description": "the variant with the most delivered"},
            "b": {"type": "string"},
            "read_rate_a": number,
            "read_rate_b": number,
            "difference": {"type": "number", "description": "percentage points, b - a"},
            "z": number,
            "p_value": {"type": "number", "minimum": 0, "maximum": 1},
            "significant": {"type": "boolean", "description": f"p_value < {SIGNIFICANCE_LEVEL}"},
            "summary": {"type": "string"},
        }
    )


def _insight_head(fields: dict[str, Any]) -> dict[str, Any]:
    """A campaign's insight answer: its id, the time of the snapshot it comes from (null
    before the first one), and ``fields``."""
    return _object({"campaign_id": {"type": "string"}, "updated_at": NULLABLE_TIME} | fields)


def _insight_schemas() -> dict[str, Any]:
    stages = {stage: _ref("Distribution") for stage in STAGES}
    failure = _object(
        {"code": {"type": "string"}, "title": {"type": "string"}, "count": {"type": "integer"}}
    )
    comparisons = {"anyOf": [_array(_comparison()), {"type": "null"}]}
    campaigns = {"campaigns": {"type": "integer", "description": "campaigns that used it"}}
    return {
        "Bucket": _bounds(),
        "Distribution": _distribution(),
        "Distributions": _insight_head(
            {"bounds_seconds": {"const": list(BOUNDS_SECONDS)}} | stages
        ),
        "Failures": _insight_head(
            {"total_failed": {"type": "integer"}, "failures": _array(failure)}
        ),
        "Variants": _insight_head(
            {"variants": _array(_group("variant")), "comparisons": comparisons}
        ),
        "Tags": _insight_head({"tags": _array(_group("tag"))}),
        "Templates": _object({"templates": _array(_group("template", campaigns))}),
    }


# The insight endpoints of a campaign (docs/insights.md): path, schema, summary, answer.
INSIGHT_OPERATIONS = (
    (
        "distributions",
        "Distributions",
        "Time to sent, delivered and read, in fixed buckets",
        "the histograms and their percentiles' buckets (zeros before any insight)",
    ),
    (
        "failures",
        "Failures",
        "Failed messages by error code",
        "the error codes, the most frequent first",
    ),
    (
        "variants",
        "Variants",
        "A/B variants and their read rates compared",
        "the variants by name; every other variant's read rate against the one with the "
        "most delivered messages (null with fewer than two variants or one without a "
        "delivered message)",
    ),
    ("tags", "Tags", "Figures per tag", "the tags, the most dispatched first"),
)

_CAMPAIGN_ID = {
    "name": "campaign_id",
    "in": "path",
    "required": True,
    "description": "the campaign's id or uuid, within the token's workspace",
    "schema": {"type": "string", "minLength": 1},
    "example": "789",
}


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    """An optional query parameter; given empty it counts as absent (as an HTML form sends an
    unset field)."""
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": {"anyOf": [schema, {"const": ""}]},
        "description": description,
    }


_STATUS = _query("status", {"enum": list(RECIPIENT_STATUSES)}, "only recipients of this status")


def _campaign_operation(
    summary: str,
    ok: dict[str, Any],
    parameters: list[dict[str, Any]],
    answers: dict[str, Any] | None = None,
) -> dict[str, Any]:
    responses = {
        "200": ok,
        "401": _error("no valid workspace token"),
        "404": _error("no such campaign in the token's workspace"),
    }
    if parameters:
        responses["400"] = _error("a query parameter is invalid; the message names it")
    return {
        "get": {
            "summary": summary,
            "security": [{"bearer": []}],
            "parameters": [_CAMPAIGN_ID, *parameters],
            "responses": responses | (answers or {}),
        }
    }


def _pusher_api(summary: str, body: dict[str, Any], answer: dict[str, Any]) -> dict[str, Any]:
    signed = [
        {"name": name, "in": "query", "required": True, "schema": {"type": "string"}}
        for name in ("auth_key", "auth_timestamp", "auth_version", "body_md5", "auth_signature")
    ]
    app_id = {"name": "app_id", "in": "path", "required": True, "schema": {"type": "string"}}
    return {
        "post": {
            "summary": summary,
            "security": [{"pusherSignature": []}],
            "parameters": [app_id, *signed],
            "requestBody": {"required": True, "content": _json(body)},
            "responses": {
                "200": {"description": "published", "content": _json(answer)},
                "400": _error("body is not an event (or a batch of them)"),
                "401": _error("unsigned, wrongly signed, stale or altered"),
                "404": _error("unknown app id"),
            },
        }
    }


_SOCKET_ID = {"type": "string", "pattern": SOCKET_ID.pattern}
# What the gateway signs: other private names get a 403, other names a 400.
_PRIVATE_CHANNEL = {
    "type": "string",
    "pattern": r"^private-(campaign|workspace)\.[A-Za-z0-9_.:-]+$",
    "maxLength": MAX_CHANNEL_LENGTH,
}

_EVENT = {
    "type": "object",
    "required": ["name", "data"],
    "properties": {
        "name": {"type": "string"},
        "channels": {"type": "array", "items": {"type": "string"}},
        "channel": {"type": "string"},
        "data": {"type": "string"},
        "socket_id": {"type": "string"},
    },
}


def openapi_document(window_seconds: float) -> dict[str, Any]:
    """The document of a gateway whose series' finest step is ``window_seconds``
    (``WINDOW_SECONDS``)."""
    _, schemas = msgspec.json.schema_components([Snapshot], ref_template=REF)
    schemas |= {
        "Error": _ERROR,
        "CampaignSummary": _campaign_summary(),
        "SeriesPoint": _series_point(),
        "Recipient": _recipient(),
    } | _insight_schemas()
    series = [
        _query("from", TIME, "start (default: an hour before `to`); no offset means UTC"),
        _query("to", TIME, "end (default: now); no offset means UTC"),
        _query(
            "step",
            {"type": "number", "minimum": window_seconds, "maximum": MAX_STEP},
            f"bucket seconds (default: the window); at most {MAX_SERIES_POINTS} buckets from "
            "`from` to `to`, which lie between 1970 and 9000",
        ),
    ]
    recipients = [
        _STATUS,
        _query(
            "after",
            {"type": "string", "pattern": "^[^\\u0000]*$"},  # PostgreSQL text holds no NUL
            "the previous page's `next`",
        ),
        _query("limit", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE}, "page size"),
    ]
    csv = {"text/csv": {"schema": {"type": "string"}}}
    busy = {
        "description": "every export slot is taken: retry after the given seconds",
        "headers": {"Retry-After": {"schema": {"type": "integer"}, "required": True}},
        "content": _json(_ref("Error")),
    }
    health = {"200": {"description": "up", "content": _json({"type": "object"})}}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "tickstream gateway",
            "version": "1",
            "description": "Campaign statistics, insights, time series and recipients of one "
            "workspace, named by the workspace token (`tickstream token --workspace <id>`). "
            "Live updates come over the WebSockets `/ws` and `/app/{key}` (docs/gateway.md).",
        },
        "paths": {
            "/api/campaigns": {
                "get": {
                    "summary": "Every campaign of the token's workspace",
                    "security": [{"bearer": []}],
                    "responses": {
                        "200": {
                            "description": "the campaigns, by id",
                            "content": _json(
                                _object(
                                    {
                                        "campaigns": {
                                            "type": "array",
                                            "items": _ref("CampaignSummary"),
                                        }
                                    }
                                )
                            ),
                        },
                        "401": _error("no valid workspace token"),
                    },
                }
            },
            "/api/campaigns/{campaign_id}": _campaign_operation(
                "The campaign's latest snapshot",
                {"description": "the snapshot", "content": _json(_ref("Snapshot"))},
                [],
                {"404": _error("no such campaign in the token's workspace, or no snapshot yet")},
            ),
            "/api/campaigns/{campaign_id}/series": _campaign_operation(
                "Window counts summed into buckets",
                {
                    "description": "the buckets that have windows, in order",
                    "content": _json(
                        _object(
                            {
                                "campaign_id": {"type": "string"},
                                "step": {"type": "number"},
                                "points": {"type": "array", "items": _ref("SeriesPoint")},
                            }
                        )
                    ),
                },
                series,
            ),
            "/api/campaigns/{campaign_id}/recipients": _campaign_operation(
                "One page of recipients, by message id",
                {
                    "description": "the page and the cursor of the next one",
                    "content": _json(
                        _object(
                            {
                                "recipients": {"type": "array", "items": _ref("Recipient")},
                                "next": {"type": ["string", "null"]},
                            }
                        )
                    ),
                },
                recipients,
            ),
            "/api/campaigns/{campaign_id}/recipients.csv": {
                "get": {
                    **_campaign_operation(
                        "Every recipient as CSV (streamed)",
                        {"description": "header row, then one row per recipient", "content": csv},
                        [_STATUS],
                        {"503": busy},
                    )["get"],
                    "security": [{"bearer": []}, {"queryToken": []}],
                }
            },
            **{
                f"/api/campaigns/{{campaign_id}}/{name}": _campaign_operation(
                    summary, {"description": answer, "content": _json(_ref(schema))}, []
                )
                for name, schema, summary, answer in INSIGHT_OPERATIONS
            },
            "/api/templates": {
                "get": {
                    "summary": "The templates of the token's workspace, summed over its campaigns",
                    "security": [{"bearer": []}],
                    "responses": {
                        "200": {
                            "description": f"the {MAX_TEMPLATES} most dispatched templates at "
                            "most, the most dispatched first",
                            "content": _json(_ref("Templates")),
                        },
                        "401": _error("no valid workspace token"),
                    },
                }
            },
            "/broadcasting/auth": {
                "post": {
                    "summary": "Sign a private channel of the token's workspace for pusher-js",
                    "security": [{"bearer": []}],
                    "requestBody": {
                        "required": True,
                        "content": {
                            media: {
                                "schema": _object(
                                    {"socket_id": _SOCKET_ID, "channel_name": _PRIVATE_CHANNEL}
                                )
                            }
                            for media in ("application/x-www-form-urlencoded", "application/json")
                        },
                    },
                    "responses": {
                        "200": {
                            "description": "the channel's signature",
                            "content": _json(_object({"auth": {"type": "string"}})),
                        },
                        "400": _error("socket_id or channel_name is invalid"),
                        "401": _error("no valid workspace token"),
                        "403": _error("not a channel of this workspace, or no app secret"),
                    },
                }
            },
            "/apps/{app_id}/events": _pusher_api(
                "Publish an event (Pusher HTTP API)", _EVENT, {"type": "object"}
            ),
            "/apps/{app_id}/batch_events": _pusher_api(
                "Publish events (Pusher HTTP API)",
                _object({"batch": {"type": "array", "items": _EVENT}}),
                _object({"batch": {"type": "array", "items": {"type": "object"}}}),
            ),
            "/healthz": {"get": {"summary": "The process is up", "responses": health}},
            "/readyz": {
                "get": {
                    "summary": "Snapshots loaded and campaign-stats caught up",
                    "responses": {
                        "200": {"description": "ready", "content": _json({"type": "object"})},
                        "503": {"description": "not yet", "content": _json({"type": "object"})},
                    },
                }
            },
            "/metrics": {
                "get": {
                    "summary": "Prometheus metrics",
                    "responses": {"200": {"description": "text exposition", "content": TEXT}},
                }
            },
            "/openapi.json": {
                "get": {
                    "summary": "This document",
                    "responses": {"200": {"description": "OpenAPI 3.1", "content": _json({})}},
                }
            },
        },
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "a workspace token"},
                "queryToken": {
                    "type": "apiKey",
                    "in": "query",
                    "name": "token",
                    "description": "a workspace token, where a browser cannot send a header",
                },
                "pusherSignature": {
                    "type": "apiKey",
                    "in": "query",
                    "name": "auth_signature",
                    "description": "HMAC-SHA256 of POST, path and sorted query (docs/gateway.md)",
                },
            },
        },
    }

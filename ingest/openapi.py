"""The OpenAPI 3.1 document of every ingest endpoint, its bodies and its answers.

Body schemas come from the very msgspec types the handlers decode with, so the document cannot
drift from what is accepted.
"""

from __future__ import annotations

from typing import Any

import msgspec

from ingest.providers import api, evolution, meta, waha, webjs

# the whatsapp-web.js Node service's paths: ours, and its own (where the original app received it)
WEBJS_PATHS = ("/webhooks/webjs", "/api/whatsapp/webhooks/webjs")

REF = "#/components/schemas/{name}"

# Components are named after the classes, which are therefore unique across providers.
_BODY_TYPES: list[Any] = [
    api.EventIn,
    api.DispatchIn,
    api.SkipIn,
    api.CampaignIn,
    webjs.WebjsStatusData,
    webjs.WebjsRawAck,
    waha.WahaEnvelope,
    waha.WahaAckPayload,
    evolution.EvolutionEnvelope,
    meta.MetaNotification,
]

_ERROR = {
    "type": "object",
    "required": ["error", "detail"],
    "properties": {
        "error": {"type": "string"},
        "detail": {"type": "string"},
        "field": {"type": "string", "description": "JSON path of the offending field"},
        "setting": {"type": "string", "description": "the variable to set (403)"},
    },
}
_ACCEPTED = {
    "type": "object",
    "required": ["accepted"],
    "properties": {"accepted": {"type": "integer", "minimum": 0}},
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": REF.format(name=name)}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": _json(_ref("Error"))}


_UNAVAILABLE = {
    "description": "Kafka unreachable or too slow: retry after the given seconds",
    "headers": {"Retry-After": {"schema": {"type": "integer"}, "required": True}},
    "content": _json(_ref("Error")),
}


def _answers(*, auth: bool = True, parse: bool = True) -> dict[str, Any]:
    answers: dict[str, Any] = {
        "200": {"description": "every record acknowledged by Kafka", "content": _json(_ACCEPTED)},
        "413": _error("body larger than MAX_BODY_BYTES"),
        "503": _UNAVAILABLE,
    }
    if parse:
        answers["400"] = _error("body is not JSON (or not a form)")
        answers["422"] = _error("body understood as JSON but not as this endpoint's content")
    if auth:
        answers["401"] = _error("missing or wrong credentials or signature")
        answers["403"] = _error(
            "the secret of this endpoint is not configured, or a sender key wrote outside its "
            "workspace"
        )
    return answers


def _many(name: str) -> dict[str, Any]:
    return {
        "oneOf": [_ref(name), {"type": "array", "items": _ref(name), "minItems": 1}],
    }


def _canonical(name: str, summary: str) -> dict[str, Any]:
    return {
        "post": {
            "summary": summary,
            "security": [{"bearer": []}],
            "requestBody": {
                "required": True,
                "content": {
                    **_json(_many(name)),
                    "application/x-ndjson": {
                        "schema": {"type": "string", "description": f"one {name} per line"}
                    },
                },
            },
            "responses": _answers(),
        }
    }


def _webhook(summary: str, scheme: str, body: dict[str, Any]) -> dict[str, Any]:
    return {
        "summary": summary,
        "security": [{scheme: []}],
        "requestBody": {"required": True, "content": body},
        "responses": _answers(),
    }


_TWILIO_FORM = {
    "application/x-www-form-urlencoded": {
        "schema": {
            "type": "object",
            "required": ["MessageSid", "MessageStatus"],
            "properties": {
                "MessageSid": {"type": "string"},
                "MessageStatus": {"type": "string"},
                "To": {"type": "string"},
                "From": {"type": "string"},
                "AccountSid": {"type": "string"},
                "ErrorCode": {"type": "string"},
                "ErrorMessage": {"type": "string"},
            },
        }
    }
}

_WEBJS_BODY = {
    "oneOf": [
        {
            "type": "object",
            "required": ["event", "data"],
            "properties": {"event": {"type": "string"}, "data": _ref("WebjsStatusData")},
        },
        _ref("WebjsRawAck"),
    ]
}


def _security_schemes() -> dict[str, Any]:
    def header(name: str, description: str) -> dict[str, str]:
        return {"type": "apiKey", "in": "header", "name": name, "description": description}

    return {
        "bearer": {
            "type": "http",
            "scheme": "bearer",
            "description": "INGEST_API_TOKEN, or a sender key of one workspace (tsk_…)",
        },
        "webjs": header(
            "X-HMAC-Signature",
            "hex HMAC-SHA256(WEBJS_HMAC_SECRET, X-Timestamp + raw body); X-Timestamp within 300 s",
        ),
        "waha": header("X-Webhook-Hmac", "hex HMAC-SHA512(WAHA_HMAC_KEY, raw body)"),
        "evolution": {
            "type": "http",
            "scheme": "bearer",
            "description": "EVOLUTION_TOKEN itself, or an HS256 JWT signed with it",
        },
        "meta": header(
            "X-Hub-Signature-256", "sha256=<hex HMAC-SHA256(META_APP_SECRET, raw body)>"
        ),
        "twilio": header(
            "X-Twilio-Signature",
            "base64 HMAC-SHA1(TWILIO_AUTH_TOKEN, PUBLIC_BASE_URL + path + sorted form pairs)",
        ),
    }


def _any_json(kind: type) -> dict[str, Any]:
    """``msgspec.Raw`` fields hold any JSON value (decoded later, by event type)."""
    if kind is msgspec.Raw:
        return {}
    raise NotImplementedError(kind)


def openapi_document() -> dict[str, Any]:
    _, schemas = msgspec.json.schema_components(
        _BODY_TYPES, ref_template=REF, schema_hook=_any_json
    )
    schemas["Error"] = _ERROR
    text = {"text/plain": {"schema": {"type": "string"}}}
    meta_query = [
        {"name": "hub.mode", "in": "query", "required": True, "schema": {"enum": ["subscribe"]}},
        {"name": "hub.verify_token", "in": "query", "required": True, "schema": {"type": "string"}},
        {"name": "hub.challenge", "in": "query", "required": True, "schema": {"type": "string"}},
    ]
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "tickstream ingest",
            "version": "1",
            "description": "WhatsApp acks in, canonical events to Kafka. A 2xx means Kafka "
            "acknowledged every record of the request (acks=all).",
        },
        "paths": {
            "/v1/events": _canonical("EventIn", "Canonical ack events (the bulk path)"),
            "/v1/dispatches": _canonical("DispatchIn", "Messages dispatched for a campaign"),
            "/v1/skips": _canonical("SkipIn", "Audience members never attempted, and why"),
            "/v1/campaigns": _canonical("CampaignIn", "Register or update campaigns"),
            **{
                path: {
                    "post": _webhook(
                        "whatsapp-web.js Node service: every event it has; acks are counted, "
                        "the rest answered 200 and dropped unread",
                        "webjs",
                        _json(_WEBJS_BODY),
                    )
                }
                for path in WEBJS_PATHS
            },
            "/webhooks/waha": {
                "post": _webhook("WAHA message.ack(.group)", "waha", _json(_ref("WahaEnvelope")))
            },
            "/webhooks/evolution": {
                "post": _webhook(
                    "Evolution API messages.update", "evolution", _json(_ref("EvolutionEnvelope"))
                )
            },
            "/webhooks/meta": {
                "get": {
                    "summary": "Meta's verify handshake: answers the bare hub.challenge",
                    "parameters": meta_query,
                    "responses": {
                        "200": {"description": "hub.challenge", "content": text},
                        "400": _error("hub.mode is not subscribe"),
                        "403": _error("wrong verify token, or META_VERIFY_TOKEN not set"),
                    },
                },
                "post": _webhook(
                    "Meta Cloud API statuses", "meta", _json(_ref("MetaNotification"))
                ),
            },
            "/webhooks/twilio": {
                "post": _webhook("Twilio status callback", "twilio", _TWILIO_FORM)
            },
            "/healthz": {
                "get": {
                    "summary": "The process is up",
                    "responses": {
                        "200": {"description": "up", "content": _json({"type": "object"})}
                    },
                }
            },
            "/readyz": {
                "get": {
                    "summary": "Kafka answers",
                    "responses": {
                        "200": {"description": "ready", "content": _json({"type": "object"})},
                        "503": _UNAVAILABLE,
                    },
                }
            },
            "/metrics": {
                "get": {
                    "summary": "Prometheus metrics",
                    "responses": {"200": {"description": "text exposition", "content": text}},
                }
            },
            "/openapi.json": {
                "get": {
                    "summary": "This document",
                    "responses": {"200": {"description": "OpenAPI 3.1", "content": _json({})}},
                }
            },
        },
        "components": {"schemas": schemas, "securitySchemes": _security_schemes()},
    }

"""HTTP handlers: read, authenticate, parse, produce, answer.

Every refusal is a JSON body ``{"error": ..., "detail": ..., ...}``. The order is fixed: size
(413), authentication (401, or 403 when the secret is not configured), understanding (400/422,
after the raw body reached ``ingest-dlq``), and Kafka (503 with ``Retry-After``). A 2xx means
Kafka acknowledged every record of the request.
"""

from __future__ import annotations

import functools
import hmac
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from contract.events import Dispatch, MessageEvent, Skip, encode
from contract.partitioning import partition_for
from contract.topics import Topics
from ingest import auth, sender_keys
from ingest.access import TRUSTED, Forbidden, Owned, Scope, check, claims, unknown_campaigns
from ingest.batcher import Batcher
from ingest.dlq import dead_letter
from ingest.follower import Follower
from ingest.metrics import Metrics
from ingest.openapi import WEBJS_PATHS
from ingest.payload import BadInput
from ingest.producer import KafkaProducer, Unavailable, acknowledged
from ingest.providers import api
from ingest.settings import IngestSettings
from ingest.webhooks import WEBHOOKS, Request, Webhook
from ingest.webjs_body import read_webjs_body

log = logging.getLogger(__name__)
T = TypeVar("T")
E = TypeVar("E", bound=MessageEvent)

RETRY_AFTER_SECONDS = 5
NDJSON_TYPES = frozenset({"application/x-ndjson", "application/ndjson", "application/jsonl"})


@dataclass(slots=True)
class Ingest:
    """What the handlers share: settings, topic names, the producer, the batcher, metrics, and
    the sender keys and campaign owners this instance follows."""

    settings: IngestSettings
    topics: Topics
    producer: KafkaProducer
    batcher: Batcher
    metrics: Metrics
    follower: Follower


INGEST = web.AppKey("ingest", Ingest)


def _error(status: int, error: str, detail: str, **extra: object) -> web.Response:
    return web.json_response({"error": error, "detail": detail, **extra}, status=status)


def _unavailable(detail: str) -> web.Response:
    response = _error(503, "kafka unavailable", detail)
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


Handler = Callable[[web.Request], Awaitable[web.Response]]


def refusing(handler: Handler) -> Handler:
    """Turn each refusal of ``handler`` into its status and a JSON body, and count it by reason.

    A wrapper per handler rather than an aiohttp middleware: a middleware costs every request
    an extra wrapper and aiohttp's per-request bookkeeping, measurable at thousands of webhooks/s.
    """

    @functools.wraps(handler)
    async def refuse(request: web.Request) -> web.Response:
        try:
            return await handler(request)
        except web.HTTPRequestEntityTooLarge as exc:
            _count_refusal(request, "too_large")
            return _error(413, "body too large", exc.text or "body exceeds MAX_BODY_BYTES")
        except auth.NotConfigured as exc:
            _count_refusal(request, "not_configured")
            return _error(403, "not configured", str(exc), setting=exc.setting)
        except Forbidden as exc:
            _count_refusal(request, "forbidden")
            return _error(403, "forbidden", exc.detail, item=exc.item, campaign_id=exc.campaign_id)
        except auth.AuthError as exc:
            _count_refusal(request, "unauthorized")
            response = _error(401, "unauthorized", str(exc))
            response.headers["WWW-Authenticate"] = 'Bearer realm="tickstream-ingest"'
            return response
        except BadInput as exc:
            _count_refusal(request, "bad_input")
            return _error(exc.status, "invalid body", exc.reason, field=exc.field)
        except Unavailable as exc:
            _count_refusal(request, "unavailable")
            log.warning("503 for %s %s: %s", request.method, request.path, exc)
            return _unavailable(str(exc))

    return refuse


def _count_refusal(request: web.Request, reason: str) -> None:
    request.app[INGEST].metrics.rejected.labels(reason).inc()


@contextmanager
def _readable() -> Iterator[None]:
    """A body that cannot be read (e.g. a Content-Encoding that does not decode) is a 400."""
    try:
        yield
    except web.RequestPayloadError as exc:
        raise BadInput(f"body could not be read: {exc}", "$", 400) from None


async def _body(request: web.Request) -> bytes:
    """The raw body; past ``MAX_BODY_BYTES`` aiohttp raises HTTPRequestEntityTooLarge (413)."""
    with _readable():
        return await request.read()


async def _dead_letter(ingest: Ingest, request: web.Request, body: bytes, exc: BadInput) -> None:
    """Keep the refused body in ``ingest-dlq`` before answering 4xx; if Kafka cannot take it,
    the sender must retry (503) rather than lose it.
    """
    letter = dead_letter(
        request.path,
        exc.reason,
        exc.field,
        exc.status,
        body,
        request.headers.items(),
        datetime.now(UTC),
    )
    future = ingest.producer.produce(ingest.topics.ingest_dlq, encode(letter))
    await acknowledged([future], ingest.settings.produce_timeout_seconds)


async def _accept(ingest: Ingest, events: list[MessageEvent]) -> web.Response:
    await ingest.batcher.submit(events)
    ingest.metrics.count_accepted(events)
    return _accepted(len(events))


def _accepted(count: int) -> web.Response:
    """``{"accepted": n}``, formatted directly: ``json_response`` costs ~4 µs more a request."""
    return web.Response(body=b'{"accepted": %d}' % count, headers=_JSON)


_JSON = {"Content-Type": "application/json"}


def _is_ndjson(request: web.Request) -> bool:
    return request.content_type in NDJSON_TYPES


# --------------------------------------------------------------------------- /v1


async def _sender(request: web.Request) -> tuple[Ingest, Scope]:
    """Who writes: a sender key (one workspace), else the global ``INGEST_API_TOKEN``."""
    ingest = request.app[INGEST]
    headers = request.headers
    try:
        token = auth.bearer_token(headers)
    except auth.AuthError:
        token = ""
    if sender_keys.is_sender_key(token):
        return ingest, await _key_scope(ingest, token)
    auth.check_bearer(auth.require(ingest.settings.ingest_api_token, "INGEST_API_TOKEN"), headers)
    return ingest, TRUSTED


async def _key_scope(ingest: Ingest, token: str) -> Scope:
    directory = ingest.follower.directory
    key_id = sender_keys.key_id_of(token)
    if not key_id:
        raise auth.AuthError("malformed sender key (tsk_<key id>_<secret>)")
    if key_id not in directory.keys and key_id not in directory.revoked:
        await ingest.follower.sync(ingest.settings.produce_timeout_seconds)  # issued just now?
    if key_id in directory.revoked:
        raise auth.AuthError(f"sender key {key_id} was revoked")
    record = directory.keys.get(key_id)
    if record is None or not sender_keys.matches(token, record):
        raise auth.AuthError("unknown sender key")
    return Scope(record.workspace_id)


async def _authorize(ingest: Ingest, scope: Scope, items: list[Owned]) -> None:
    """:class:`Forbidden` unless ``scope`` may write every item; a campaign unknown here is
    looked up again once this instance has read what Kafka holds."""
    owner_of = ingest.follower.directory.owner
    if unknown_campaigns(items, owner_of):
        await ingest.follower.sync(ingest.settings.produce_timeout_seconds)
    check(scope, items, owner_of)


async def _understood(
    ingest: Ingest, request: web.Request, body: bytes, parse: Callable[[bytes, datetime], list[T]]
) -> list[T]:
    """The parsed body; a body that cannot be understood goes to ``ingest-dlq`` first."""
    try:
        return parse(body, datetime.now(UTC))
    except BadInput as exc:
        await _dead_letter(ingest, request, body, exc)
        raise


def _batched(
    name: str, parse: Callable[[bytes, datetime, bool], list[E]]
) -> Callable[[web.Request], Awaitable[web.Response]]:
    """A ``/v1`` endpoint whose items travel on ``ack-events`` through the batcher."""

    async def handle(request: web.Request) -> web.Response:
        ingest, scope = await _sender(request)
        ndjson = _is_ndjson(request)
        events: list[E] = await _understood(
            ingest, request, await _body(request), lambda b, t: parse(b, t, ndjson)
        )
        if scope.workspace is not None:  # acks carry only message ids: any may be reported
            await _authorize(ingest, scope, [e for e in events if isinstance(e, Dispatch | Skip)])
        return await _accept(ingest, list(events))

    handle.__name__ = f"post_{name}"
    return handle


post_events = _batched("events", api.parse_events)
post_dispatches = _batched("dispatches", api.parse_dispatches)
post_skips = _batched("skips", api.parse_skips)


async def post_campaigns(request: web.Request) -> web.Response:
    """One record per campaign on ``campaign-events``, keyed (and partitioned) by campaign id;
    a campaign new to ingest gets its owner record on ``campaign-owners`` too."""
    ingest, scope = await _sender(request)
    ndjson = _is_ndjson(request)
    campaigns = await _understood(
        ingest, request, await _body(request), lambda b, t: api.parse_campaigns(b, t, ndjson)
    )
    directory, follower = ingest.follower.directory, ingest.follower
    if unknown_campaigns(campaigns, directory.owner):  # new ones are claimed: ask Kafka first
        await follower.sync(ingest.settings.produce_timeout_seconds)
    check(scope, campaigns, directory.owner)
    owners = claims(campaigns, directory.owner)
    for owner in owners:  # at once, so that a concurrent request sees the claim
        directory.apply_owner(owner)
    partitions = ingest.settings.topic_partitions
    started = time.perf_counter()
    records = [(ingest.topics.campaign_events, c.campaign_id, encode(c)) for c in campaigns] + [
        (ingest.topics.campaign_owners, o.campaign_id, encode(o)) for o in owners
    ]
    futures = [
        ingest.producer.produce(topic, value, key=key, partition=partition_for(key, partitions))
        for topic, key, value in records
    ]
    try:
        await acknowledged(futures, ingest.settings.produce_timeout_seconds)
    except Unavailable:
        for owner in owners:  # the claim did not reach Kafka: the next registration decides
            if directory.owners.get(owner.campaign_id) == owner.workspace_id:
                del directory.owners[owner.campaign_id]
        raise
    ingest.metrics.produce_seconds.observe(time.perf_counter() - started)
    ingest.metrics.campaigns.inc(len(campaigns))
    return _accepted(len(campaigns))


# --------------------------------------------------------------------------- webhooks


def webhook_handler(webhook: Webhook) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handle(request: web.Request) -> web.Response:
        ingest = request.app[INGEST]
        body = await _body(request)
        signed = Request(request.headers, body, _public_url(ingest.settings, request), time.time())
        webhook.authenticate(ingest.settings, signed)
        events = await _understood(ingest, request, body, webhook.parse)
        return await _accept(ingest, list(events))

    handle.__name__ = f"post_{webhook.provider}"
    return handle


async def post_webjs(request: web.Request) -> web.Response:
    """The Node service's one URL for every event: acks are parsed, the rest is streamed
    through the signature and dropped unread (``ingest/webjs_body.py``)."""
    ingest = request.app[INGEST]
    settings = ingest.settings
    hook = WEBHOOKS["webjs"]
    signature = auth.WebjsSignature(
        auth.require(hook.secret(settings), hook.setting), request.headers, time.time()
    )
    with _readable():
        body = await read_webjs_body(
            request.content.iter_any(),
            signature,
            settings.max_body_bytes,
            settings.webjs_max_ignored_body_bytes,
        )
    signature.verify()
    if body.ignored_event:
        ingest.metrics.count_ignored(body.ignored_event)
        return _accepted(0)
    events = await _understood(ingest, request, body.raw, hook.parse)
    return await _accept(ingest, list(events))


def _public_url(settings: IngestSettings, request: web.Request) -> str:
    """The URL as the provider saw it (Twilio signs it): ``PUBLIC_BASE_URL`` + path + query."""
    if request.path != "/webhooks/twilio":
        return ""
    base = auth.require(settings.public_base_url, "PUBLIC_BASE_URL")
    return base.rstrip("/") + request.path_qs


async def meta_verify(request: web.Request) -> web.Response:
    """Meta's subscription handshake: echo ``hub.challenge`` when the verify token matches."""
    ingest = request.app[INGEST]
    expected = auth.require(ingest.settings.meta_verify_token, "META_VERIFY_TOKEN")
    query = request.query
    if query.get("hub.mode") != "subscribe":
        return _error(400, "invalid request", "hub.mode must be subscribe", field="hub.mode")
    given = query.get("hub.verify_token", "")
    if not hmac.compare_digest(expected.encode(), given.encode()):
        ingest.metrics.rejected.labels("unauthorized").inc()
        return _error(403, "forbidden", "hub.verify_token does not match")
    return web.Response(text=query.get("hub.challenge", ""), content_type="text/plain")


# --------------------------------------------------------------------------- operations


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    ingest = request.app[INGEST]
    try:
        brokers = await ingest.producer.ready(within=2.0)
    except Unavailable as exc:
        return _unavailable(str(exc))
    return web.json_response({"status": "ready", "brokers": brokers})


async def metrics(request: web.Request) -> web.Response:
    body = generate_latest(request.app[INGEST].metrics.registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


WEBHOOK_ROUTES = {
    **{f"/webhooks/{name}": webhook_handler(hook) for name, hook in WEBHOOKS.items()},
    **dict.fromkeys(WEBJS_PATHS, post_webjs),
}

"""The provider webhooks: which secret each needs, how it authenticates, how its body parses."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from contract.events import AckEvent
from ingest import auth
from ingest.providers import evolution, meta, twilio, waha, webjs
from ingest.settings import IngestSettings


@dataclass(frozen=True, slots=True)
class Request:
    """What a signature may cover: headers, raw body, the URL the provider called, our clock."""

    headers: Mapping[str, str]
    body: bytes
    url: str
    now: float


@dataclass(frozen=True, slots=True)
class Webhook:
    provider: str
    setting: str
    secret: Callable[[IngestSettings], str]
    verify: Callable[[str, Request], None]
    parse: Callable[[bytes, datetime], list[AckEvent]]

    def authenticate(self, settings: IngestSettings, request: Request) -> None:
        """Raise :class:`auth.NotConfigured` or :class:`auth.AuthError` unless authentic."""
        self.verify(auth.require(self.secret(settings), self.setting), request)


WEBHOOKS: dict[str, Webhook] = {
    "webjs": Webhook(
        webjs.PROVIDER,
        "WEBJS_HMAC_SECRET",
        lambda s: s.webjs_hmac_secret,
        lambda secret, r: auth.check_webjs(secret, r.headers, r.body, r.now),
        webjs.parse,
    ),
    "waha": Webhook(
        waha.PROVIDER,
        "WAHA_HMAC_KEY",
        lambda s: s.waha_hmac_key,
        lambda secret, r: auth.check_waha(secret, r.headers, r.body),
        waha.parse,
    ),
    "evolution": Webhook(
        evolution.PROVIDER,
        "EVOLUTION_TOKEN",
        lambda s: s.evolution_token,
        lambda secret, r: auth.check_evolution(secret, r.headers, r.now),
        evolution.parse,
    ),
    "meta": Webhook(
        meta.PROVIDER,
        "META_APP_SECRET",
        lambda s: s.meta_app_secret,
        lambda secret, r: auth.check_meta(secret, r.headers, r.body),
        meta.parse,
    ),
    "twilio": Webhook(
        twilio.PROVIDER,
        "TWILIO_AUTH_TOKEN",
        lambda s: s.twilio_auth_token,
        lambda secret, r: auth.check_twilio(secret, r.headers, r.body, r.url),
        twilio.parse,
    ),
}

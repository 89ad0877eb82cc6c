"""Each provider's own webhook bodies for a message's status, as that provider sends them."""

from __future__ import annotations

import base64
import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

PROVIDERS = ("webjs", "waha", "evolution", "meta", "twilio")
WEBJS_ACK = {"failed": -1, "pending": 0, "sent": 1, "delivered": 2, "read": 3, "played": 4}
# the original Node service's `status` string is shifted by one against its ack_level, and any
# level its switch does not name (0 and -1 among them) becomes "pending"
WEBJS_SHIFTED = {1: "pending", 2: "sent", 3: "delivered", 4: "read"}
# the events it posts besides message_status_updated, on ack 3 and 4, with no ack level
WEBJS_NAMED = {3: ("message_delivered", "delivered"), 4: ("message_read", "read")}
WEBJS_WORKSPACE = 1  # the Node service's own workspace number, which tickstream does not read
WEBJS_SESSION = "webjs_1_1763264512_KUfMjqya"
WAHA_ACK_NAME = {-1: "ERROR", 0: "PENDING", 1: "SERVER", 2: "DEVICE", 3: "READ", 4: "PLAYED"}
EVOLUTION_STATUS = {
    "pending": "PENDING",
    "sent": "SERVER_ACK",
    "delivered": "DELIVERY_ACK",
    "read": "READ",
    "played": "PLAYED",
    "failed": "ERROR",
}
# real Cloud API error codes of failed statuses, with the title Meta gives each
META_ERRORS = (
    (131026, "Message undeliverable"),
    (131049, "This message was not delivered to maintain healthy ecosystem engagement."),
    (131047, "Re-engagement message"),
)
# real Twilio error codes of failed WhatsApp messages, with the MessageStatus they come with; the
# callback carries the code alone (no ErrorMessage)
TWILIO_ERRORS = (("63016", "undelivered"), ("63003", "failed"), ("63024", "failed"))
# what the whatsapp-web.js Node service puts in `error` of a failed ack: the text of the error
# whatsapp-web.js threw, no code
WEBJS_ERRORS = (
    "Evaluation failed: Error: wid error: invalid wid",
    "Protocol error (Runtime.callFunctionOn): Session closed.",
    "Message could not be sent: the phone is not connected",
)
# What each provider's failure report carries, as ingest reads it: (error code, error title).
# WAHA's and Evolution's failed acks carry neither.
FAILURES: dict[str, tuple[tuple[str, str], ...]] = {
    "meta": tuple((str(code), title) for code, title in META_ERRORS),
    "twilio": tuple((code, "") for code, _ in TWILIO_ERRORS),
    "webjs": tuple(("", text) for text in WEBJS_ERRORS),
    "waha": (("", ""),),
    "evolution": (("", ""),),
}
_TWILIO_STATUS_OF = dict(TWILIO_ERRORS)


@dataclass(frozen=True, slots=True)
class StatusReport:
    """One status of one message, which each provider words its own way."""

    message_id: str
    phone: str
    status: str
    at: datetime  # when the status happened
    created_at: datetime  # when the message was created
    error: tuple[str, str] = ("", "")  # of a failure: one of its provider's FAILURES


def _meta_seconds(at: datetime) -> int:
    return int(at.timestamp())


def _waha_milliseconds(at: datetime) -> int:
    return round(at.timestamp() * 1000)


# The time each provider's body gives a status that happened at `at`, as ingest reads it (its
# occurred_at): Meta in whole seconds, WAHA in milliseconds, Evolution as it is. Twilio's callback
# and the Node service's acks give none: ingest takes their arrival time.
STAMPED: dict[str, Callable[[datetime], datetime | None]] = {
    "meta": lambda at: datetime.fromtimestamp(_meta_seconds(at), UTC),
    "waha": lambda at: datetime.fromtimestamp(_waha_milliseconds(at) / 1000, UTC),
    "evolution": lambda at: at,
    "twilio": lambda at: None,
    "webjs": lambda at: None,
}


# What a provider posts for one status: each body with the status it stands for.
Bodies = list[tuple[str, bytes]]


def compact_json(value: Any) -> bytes:
    """JSON without spaces, as the providers send it."""
    return json.dumps(value, separators=(",", ":")).encode()


def webjs_event(event: str, data: dict[str, Any]) -> bytes:
    """The Node service's envelope: ``event`` first, as its ``JSON.stringify`` writes it."""
    return compact_json(
        {
            "event": event,
            "data": {"workspace_id": WEBJS_WORKSPACE, "session_id": WEBJS_SESSION, **data},
        }
    )


def _webjs(rng: random.Random, report: StatusReport) -> Bodies:
    """``message_status_updated`` for every ack, then on ack 3 and 4 the named event too; the
    ``timestamp`` of both is ``message.timestamp``, when the message was created."""
    level = WEBJS_ACK[report.status]
    created = int(report.created_at.timestamp())
    bodies = [
        (
            report.status,
            webjs_event(
                "message_status_updated",
                {
                    "message_id": report.message_id,
                    "status": WEBJS_SHIFTED.get(level, "pending"),
                    "ack_level": level,
                    "timestamp": created,
                    **({"error": report.error[1]} if report.status == "failed" else {}),
                },
            ),
        )
    ]
    if level in WEBJS_NAMED:
        event, status = WEBJS_NAMED[level]
        data = {
            "message_id": report.message_id,
            "recipient": f"{report.phone}@c.us",
            "timestamp": created,
        }
        bodies.append((status, webjs_event(event, data)))
    return bodies


def webjs_session_events(rng: random.Random) -> list[bytes]:
    """What the Node service posts while its session starts: a QR code (a PNG data URL), then
    authenticated and ready."""
    png = base64.b64encode(rng.randbytes(6000)).decode()
    return [
        webjs_event(
            "qr_code_generated",
            {
                "qr_code": f"data:image/png;base64,{png}",
                "expires_in": 60,
                "qr_count": 1,
                "is_regeneration": False,
            },
        ),
        webjs_event("session_authenticated", {"status": "authenticated"}),
        webjs_event(
            "session_ready",
            {"phone_number": "5511900000000", "status": "connected", "platform": "android"},
        ),
    ]


def webjs_session_end() -> bytes:
    """Posted when the phone logs the session out."""
    return webjs_event("session_disconnected", {"reason": "LOGOUT"})


def webjs_message_sent(message_id: str, phone: str, created_at: datetime) -> bytes:
    """Posted for every message the service itself creates (``message_create`` from us)."""
    message = {
        "id": message_id,
        "from": f"{phone}@c.us",
        "to": f"{phone}@c.us",
        "body": "Promo de novembro",
        "timestamp": int(created_at.timestamp()),
        "type": "chat",
        "has_media": False,
        "status": "pending",
        "from_me": True,
        "chat_type": "private",
    }
    return webjs_event("message_sent", {"message": message, "source": "message_create_event"})


def webjs_reply(rng: random.Random, phone: str, at: datetime, media_bytes: int) -> list[bytes]:
    """A recipient answers: typing, a chat state, then the message, its media inlined as base64
    (``media_bytes`` of it; several megabytes for a video)."""
    chat = f"{phone}@c.us"
    stamp = int(at.timestamp() * 1000)
    message: dict[str, Any] = {
        "id": f"false_{chat}_3EB0{rng.getrandbits(80):020X}",
        "from": chat,
        "to": "5511900000000@c.us",
        "body": "" if media_bytes else "Obrigado!",
        "timestamp": int(at.timestamp()),
        "from_me": False,
        "type": "video" if media_bytes else "chat",
        "has_media": bool(media_bytes),
        "chat_type": "private",
    }
    if media_bytes:
        raw = rng.randbytes(media_bytes * 3 // 4)
        message["media"] = {
            "data": base64.b64encode(raw).decode(),
            "mimetype": "video/mp4",
            "filename": f"video_{stamp}",
        }
    return [
        webjs_event(
            "typing_indicator",
            {
                "contact_id": chat,
                "contact_name": "Cliente",
                "is_typing": True,
                "chat_id": chat,
                "timestamp": stamp,
            },
        ),
        webjs_event(
            "chat_state_updated",
            {"chat_id": chat, "chat_state": "available", "last_seen": None, "timestamp": stamp},
        ),
        webjs_event("message_received", {"message": message}),
    ]


def _waha(rng: random.Random, report: StatusReport) -> bytes:
    level = WEBJS_ACK[report.status]
    payload = {
        "id": report.message_id,
        "from": "5511900000000@c.us",
        "to": f"{report.phone}@c.us",
        "fromMe": True,
        "ack": level,
        "ackName": WAHA_ACK_NAME[level],
    }
    body = {
        "id": f"evt_{rng.getrandbits(64):016x}",
        "event": "message.ack",
        "session": "default",
        "timestamp": _waha_milliseconds(report.at),
        "payload": payload,
    }
    return compact_json(body)


def _evolution(rng: random.Random, report: StatusReport) -> bytes:
    data = {
        "messageId": f"cm{rng.getrandbits(64):016x}",
        "keyId": report.message_id,
        "remoteJid": f"{report.phone}@s.whatsapp.net",
        "fromMe": True,
        "participant": None,
        "status": EVOLUTION_STATUS[report.status],
        "instanceId": "sim-instance",
    }
    body = {
        "event": "messages.update",
        "instance": "sim",
        "data": data,
        "date_time": report.at.isoformat(),
        "sender": "5511900000000@s.whatsapp.net",
        "server_url": "http://127.0.0.1",
    }
    return compact_json(body)


def _meta(rng: random.Random, report: StatusReport) -> bytes:
    item: dict[str, Any] = {
        "id": report.message_id,
        "status": report.status,
        "timestamp": str(_meta_seconds(report.at)),
        "recipient_id": report.phone,
    }
    if report.status == "failed":
        code, title = report.error
        item["errors"] = [
            {
                "code": int(code),
                "title": title,
                "message": title,
                "error_data": {"details": title},
                "href": "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/",
            }
        ]
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550001111", "phone_number_id": "106540352242922"},
        "statuses": [item],
    }
    return compact_json(
        {
            "object": "whatsapp_business_account",
            "entry": [
                {"id": "102290129340398", "changes": [{"value": value, "field": "messages"}]}
            ],
        }
    )


def _twilio(rng: random.Random, report: StatusReport) -> bytes:
    form = {
        "MessageSid": report.message_id,
        "SmsSid": report.message_id,
        "AccountSid": "AC" + "0" * 32,
        "From": "whatsapp:+15550001111",
        "To": f"whatsapp:+{report.phone}",
        "ApiVersion": "2010-04-01",
    }
    if report.status == "failed":
        code = report.error[0]
        form.update(MessageStatus=_TWILIO_STATUS_OF[code], ErrorCode=code)
    else:
        form["MessageStatus"] = {"pending": "queued"}.get(report.status, report.status)
    return urlencode(form).encode()


Builder = Callable[[random.Random, StatusReport], Bodies]


def _single(build: Callable[[random.Random, StatusReport], bytes]) -> Builder:
    """A provider that posts one body per status."""

    def bodies(rng: random.Random, report: StatusReport) -> Bodies:
        return [(report.status, build(rng, report))]

    return bodies


BUILDERS: dict[str, Builder] = {
    "webjs": _webjs,
    "waha": _single(_waha),
    "evolution": _single(_evolution),
    "meta": _single(_meta),
    "twilio": _single(_twilio),
}

"""Twilio (WhatsApp) status callbacks: form-encoded ``MessageSid`` and ``MessageStatus``.

Twilio gives no event time in a status callback, so ``occurred_at`` stays empty. The
``whatsapp:`` prefix of ``To`` is dropped so that recipients look alike across providers.
"""

from __future__ import annotations

from datetime import datetime
from urllib.parse import parse_qsl

from contract.events import AckEvent
from contract.status import twilio_status
from ingest.payload import BadInput, identifier, make_ack, mapped

PROVIDER = "twilio"


def parse(body: bytes, received_at: datetime) -> list[AckEvent]:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise BadInput("form body is not UTF-8", "$", 400) from None
    form = dict(parse_qsl(text, keep_blank_values=True))
    sid = form.get("MessageSid") or form.get("SmsSid") or ""
    raw_status = form.get("MessageStatus") or form.get("SmsStatus")
    if not sid:
        raise BadInput("MessageSid is missing", "MessageSid")
    if not raw_status:
        raise BadInput("MessageStatus is missing", "MessageStatus")
    return [
        make_ack(
            PROVIDER,
            sid,
            mapped("MessageStatus", twilio_status, raw_status),
            received_at,
            field="MessageSid",
            recipient=identifier(form.get("To", ""), "To").removeprefix("whatsapp:"),
            error_code=form.get("ErrorCode", ""),
            error_title=form.get("ErrorMessage", ""),
        )
    ]

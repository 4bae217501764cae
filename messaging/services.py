"""Writing SMS: verifying and handling inbound messages, queueing and delivering outbound ones, broadcasts."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import re
import time
from dataclasses import dataclass

from django.conf import settings
from django.contrib.gis.geos import Point
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from boundaries.models import GridUnit, Level
from boundaries.selectors import generation_active, valid_at_q
from core.crypto import blind_index
from core.errors import ApiError
from core.personal import phone_normalize, phone_validate, scrub
from core.scope import Scope
from incidents.models import Category, Incident, Source, Status
from incidents.services import incident_create
from messaging.backends import GatewayError, Outgoing, backend_get
from messaging.models import Broadcast, Message, OptOut
from messaging.selectors import (
    APPROVE_BROADCAST,
    DRAFT_BROADCAST,
    broadcast_recipient_count,
    broadcast_recipients,
    resident_for_phone,
)
from residents.models import AttentionTag

logger = logging.getLogger(__name__)

_QUERY_RE = re.compile(r"^(?:CX|查询)\s*[:：#]?\s*(\d{1,20})$", re.IGNORECASE)
_OPT_OUT_RE = re.compile(r"^(?:TD|退订)$", re.IGNORECASE)
# Codecs of the encodings gateways report; GSM 7-bit text arrives already decoded as text.
_CODECS = {"": "utf-8", "utf-8": "utf-8", "utf8": "utf-8", "ucs2": "utf-16-be", "ucs-2": "utf-16-be"}
_CODECS |= {"utf-16be": "utf-16-be", "utf-16": "utf-16-be", "gsm7": "ascii", "ascii": "ascii"}
_DELIVERED = {"delivered", "delivrd", "success", "ok", "0"}
_UNDELIVERED = {"failed", "undeliv", "undelivered", "rejectd", "rejected", "expired", "deleted", "error"}


def _sleep(seconds: float) -> None:
    # One place to wait (throttling, back-off), so tests can count the waits instead of sleeping.
    time.sleep(seconds)


def sms_language() -> str:
    """The language of texts to residents (GEOGRID_SMS_LANGUAGE), whatever the staff's interface language."""
    return getattr(settings, "GEOGRID_SMS_LANGUAGE", "zh-hans")


def _allowed(scope: Scope, permissions) -> bool:
    return any(scope.has(permission) for permission in permissions)


# Signatures ------------------------------------------------------------------------------------------


class SignatureError(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


def signature_compute(*, timestamp: str, body: bytes, secret: str) -> str:
    """HMAC-SHA256, hex, of `<timestamp>.<body>` with the shared secret."""
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def signature_check(*, timestamp: str | None, signature: str | None, body: bytes, now: float | None = None) -> None:
    """Refuses a request not signed with GEOGRID_SMS_SECRET, or signed more than the allowed age ago."""
    secret = getattr(settings, "GEOGRID_SMS_SECRET", "")
    if not secret:
        raise SignatureError("not_configured", _("The SMS gateway secret is not configured."))
    if not timestamp or not signature:
        raise SignatureError("unsigned", _("The request carries no signature or no timestamp."))
    try:
        sent = int(timestamp)
    except ValueError:
        raise SignatureError("bad_timestamp", _("The timestamp is not a number of seconds.")) from None
    expected = signature_compute(timestamp=timestamp, body=body, secret=secret)
    if not hmac.compare_digest(expected, signature.removeprefix("sha256=").strip().lower()):
        raise SignatureError("bad_signature", _("The signature does not match."))
    max_age = getattr(settings, "GEOGRID_SMS_MAX_AGE", 300)
    if abs((now if now is not None else time.time()) - sent) > max_age:
        raise SignatureError("stale", _("The request is too old (or from the future): refused as a replay."))


# Outbound --------------------------------------------------------------------------------------------


def message_queue(
    *,
    phone: str,
    text: str,
    kind: str,
    incident: Incident | None = None,
    in_reply_to: Message | None = None,
    broadcast: Broadcast | None = None,
    resident=None,
    unit_code: str = "",
    deliver_later: bool = True,
) -> Message:
    """An outbound message, stored queued; it is handed to the gateway once the transaction commits."""
    message = Message.objects.create(
        direction=Message.Direction.OUT,
        kind=kind,
        phone=phone,
        text=text,
        state=Message.State.QUEUED,
        incident=incident,
        in_reply_to=in_reply_to,
        broadcast=broadcast,
        resident=resident,
        unit_code=unit_code,
    )
    if deliver_later:
        from jobs.services import task_enqueue
        from messaging.tasks import message_deliver_task

        task_enqueue(message_deliver_task, message.pk)
    return message


def message_deliver(*, message_id: int) -> Message:
    """
    Hands a queued message to the gateway, trying again after GEOGRID_SMS_RETRY_BACKOFF seconds
    (doubling) up to GEOGRID_SMS_RETRIES times when the failure may pass; every attempt and the last
    error are recorded, and a message that never went out ends as failed.
    """
    message = Message.objects.get(pk=message_id)
    if message.state != Message.State.QUEUED:
        return message
    backend = backend_get()
    retries = getattr(settings, "GEOGRID_SMS_RETRIES", 3)
    backoff = getattr(settings, "GEOGRID_SMS_RETRY_BACKOFF", 2.0)
    while True:
        message.attempts += 1
        try:
            result = backend.send(Outgoing(to=message.phone, text=message.text, message_id=str(message.pk)))
        except GatewayError as exc:
            message.error = scrub(str(exc))[:300]
            logger.warning("SMS %s: attempt %s failed: %s", message.pk, message.attempts, message.error)
            if exc.retry and message.attempts <= retries:
                Message.objects.filter(pk=message.pk).update(attempts=message.attempts, error=message.error)
                _sleep(backoff * 2 ** (message.attempts - 1))
                continue
            message.state = Message.State.FAILED
            message.save(update_fields=["attempts", "error", "state", "updated_at"])
            return message
        message.state = Message.State.SENT
        message.provider_id = result.provider_id[:100]
        message.sent_at = timezone.now()
        message.error = ""
        message.save(update_fields=["attempts", "error", "state", "provider_id", "sent_at", "updated_at"])
        return message


def delivery_report(*, provider_id: str, status: str) -> Message:
    """The gateway's delivery report for one of our messages: delivered, or failed with its status."""
    message = Message.objects.filter(direction=Message.Direction.OUT, provider_id=provider_id).first()
    if message is None:
        raise ApiError(_("No message with that id."), code="not_found", status_code=404)
    code = (status or "").strip().lower()
    if code in _DELIVERED:
        message.state, message.delivered_at = Message.State.DELIVERED, timezone.now()
    elif code in _UNDELIVERED:
        message.state, message.error = Message.State.FAILED, f"delivery report: {code}"[:300]
    else:
        raise ValidationError({"status": [_("Unknown delivery status %(status)s.") % {"status": status}]})
    message.save(update_fields=["state", "delivered_at", "error", "updated_at"])
    return message


# Inbound ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class InboundResult:
    message: Message
    reply: Message | None
    duplicate: bool = False


def _decode(*, text: str | None, data_hex: str | None, encoding: str) -> str | None:
    """The message's text, or None when its encoding is unknown or its bytes do not decode."""
    codec = _CODECS.get((encoding or "").strip().lower())
    if codec is None:
        return None
    if data_hex is not None:
        try:
            return bytes.fromhex(data_hex).decode(codec)
        except (ValueError, UnicodeDecodeError):
            return None
    text = text or ""
    return None if "\ufffd" in text else text


def inbound_receive(
    *,
    provider_id: str,
    phone: str,
    text: str | None = None,
    data_hex: str | None = None,
    encoding: str = "",
    parts_ref: str = "",
    parts_total: int = 1,
    part_index: int = 1,
) -> InboundResult:
    """
    Takes one message from the gateway: logged raw, matched to a resident by phone, then handled
    (status query, opt-out, or a new appeal) and answered. The provider's id makes a repeated post
    answer what the first one did, creating nothing. A part of a concatenated SMS waits for the
    others; the part that completes it has the joined text handled.
    """
    try:
        phone = phone_validate(phone)
    except ValidationError as exc:
        raise ValidationError({"from": exc.messages}) from None
    if not provider_id:
        raise ValidationError({"id": [_("The gateway's message id is required.")]})
    if not 1 <= part_index <= parts_total <= 255:
        raise ValidationError({"part": [_("The part number must lie between 1 and the number of parts.")]})
    try:
        with transaction.atomic():
            return _receive(
                provider_id=provider_id,
                phone=phone,
                text=text,
                data_hex=data_hex,
                encoding=encoding,
                parts_ref=parts_ref if parts_total > 1 else "",
                parts_total=parts_total,
                part_index=part_index,
            )
    except IntegrityError:
        # The same message posted twice at once: the other request stored it.
        earlier = _duplicate(provider_id)
        if earlier is None:
            raise
        return earlier


def _duplicate(provider_id: str) -> InboundResult | None:
    message = Message.objects.filter(direction=Message.Direction.IN, provider_id=provider_id).first()
    if message is None:
        return None
    reply = message.replies.order_by("id").first()
    return InboundResult(message=message, reply=reply, duplicate=True)


def _receive(*, provider_id, phone, text, data_hex, encoding, parts_ref, parts_total, part_index) -> InboundResult:
    earlier = _duplicate(provider_id)
    if earlier is not None:
        return earlier
    decoded = _decode(text=text, data_hex=data_hex, encoding=encoding)
    resident = resident_for_phone(phone=phone)
    message = Message.objects.create(
        direction=Message.Direction.IN,
        provider_id=provider_id[:100],
        phone=phone,
        text=decoded if decoded is not None else (text or data_hex or "")[:2000],
        encoding=(encoding or "")[:20],
        parts_ref=str(parts_ref)[:20],
        parts_total=parts_total,
        part_index=part_index,
        state=Message.State.RECEIVED,
        resident=resident,
        unit_code=resident.unit_code if resident else "",
    )
    with translation.override(sms_language()):
        if decoded is None:
            return _answer(
                message, [message], _("Sorry, this message could not be read. Please send it again as text.")
            )
        if parts_total > 1:
            parts = _parts_if_complete(message)
            if parts is None:
                Message.objects.filter(pk=message.pk).update(state=Message.State.PARTIAL)
                message.state = Message.State.PARTIAL
                return InboundResult(message=message, reply=None)
            decoded = "".join(part.text for part in parts)
        else:
            parts = [message]
        return _handle(message, parts, decoded.strip(), resident)


def _parts_if_complete(message: Message) -> list[Message] | None:
    # Parts of one SMS can arrive at once: one lock per number and reference lets only one complete it.
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"sms:{message.phone_index}:{message.parts_ref}"])
    window = timezone.now() - dt.timedelta(hours=getattr(settings, "GEOGRID_SMS_PARTS_WINDOW_HOURS", 24))
    candidates = Message.objects.filter(
        direction=Message.Direction.IN,
        phone_index=message.phone_index,
        parts_ref=message.parts_ref,
        parts_total=message.parts_total,
        created_at__gte=window,
        state__in=[Message.State.PARTIAL, Message.State.RECEIVED],
    ).order_by("part_index", "id")
    by_index = {}
    for part in candidates:
        by_index.setdefault(part.part_index, part)
    if len(by_index) < message.parts_total:
        return None
    return [by_index[i] for i in sorted(by_index)]


def _answer(message: Message, parts: list[Message], text: str, *, kind=None, state=None, incident=None):
    Message.objects.filter(pk__in=[p.pk for p in parts]).update(
        state=state or Message.State.REJECTED,
        kind=kind or Message.Kind.OTHER,
        incident=incident,
        unit_code=incident.unit_code if incident else message.unit_code,
    )
    message.refresh_from_db()
    reply = message_queue(
        phone=message.phone,
        text=text,
        kind=Message.Kind.REPLY,
        in_reply_to=message,
        incident=incident,
        resident=message.resident,
        unit_code=message.unit_code,
    )
    return InboundResult(message=message, reply=reply)


def _handle(message: Message, parts: list[Message], text: str, resident) -> InboundResult:
    handled = Message.State.HANDLED
    if not text:
        return _answer(message, parts, _("Your message was empty. Please write what the problem is and where."))
    query = _QUERY_RE.match(text)
    if query:
        incident = _incident_of_phone(query.group(1), message.phone_index)
        if incident is None:
            reply = _("No case %(number)s was found for this phone number.") % {"number": query.group(1)}
            return _answer(message, parts, reply, kind=Message.Kind.QUERY, state=handled)
        reply = _("Your case %(number)s is now: %(status)s") % {
            "number": incident.number,
            "status": Status(incident.status).label,
        }
        return _answer(message, parts, reply, kind=Message.Kind.QUERY, state=handled, incident=incident)
    if _OPT_OUT_RE.match(text):
        OptOut.objects.get_or_create(phone_index=message.phone_index)
        reply = _("You will receive no more broadcasts from this number. Appeals and case replies still work.")
        return _answer(message, parts, reply, kind=Message.Kind.OPT_OUT, state=handled)
    incident = _appeal_create(message=message, text=text, resident=resident)
    reply = _("Your appeal has been received. Case number: %(number)s. Send CX %(number)s to follow it.") % {
        "number": incident.number
    }
    return _answer(message, parts, reply, kind=Message.Kind.APPEAL, state=handled, incident=incident)


def _incident_of_phone(number: str, phone_index: str) -> Incident | None:
    candidates = {number, number.zfill(8)}
    incidents = Incident.objects.filter(number__in=candidates)
    return (
        incidents.filter(reporter_phone_index=phone_index).first()
        or incidents.filter(reporter_resident__phone_index=phone_index).first()
    )


def default_category() -> Category:
    """GEOGRID_SMS_DEFAULT_CATEGORY: a minor class, or a major class whose first active minor is taken."""
    code = getattr(settings, "GEOGRID_SMS_DEFAULT_CATEGORY", "E06")
    category = Category.objects.filter(code=code, active=True).first()
    if category is not None and category.parent_id is None:
        category = category.minors.filter(active=True).order_by("code").first()
    if category is None:
        raise ValidationError({"category": [_("GEOGRID_SMS_DEFAULT_CATEGORY names no active class.")]})
    return category


def _city_point() -> Point | None:
    generation = generation_active()
    if generation is None:
        return None
    city = GridUnit.objects.filter(valid_at_q(generation), level=Level.CITY).order_by("code").first()
    return city.label_point if city else None


def _appeal_create(*, message: Message, text: str, resident) -> Incident:
    """
    A new case from an SMS. A text message has no point and no class: the case takes the default
    class and the resident's household point (or the city's label point for an unknown number),
    and its address says that the dispatcher must check both.
    """
    category = default_category()
    flag = _("[SMS: check category and location]")
    points = []
    if resident is not None:
        points.append((resident.household.location, f"{flag} {resident.household.address}"))
    city = _city_point()
    if city is not None:
        points.append((city, flag))
    for location, address in points:
        try:
            with transaction.atomic():
                return incident_create(
                    scope=Scope.everything(),
                    actor=None,
                    title=text[:60],
                    description=text,
                    category=category,
                    location=location,
                    address=address[:200],
                    source=Source.SMS,
                    reporter_resident=resident,
                    reporter_name=resident.name if resident else "",
                    reporter_phone=message.phone,
                )
        except ValidationError:
            continue
    raise ValidationError({"location": [_("No boundaries are active: an SMS appeal cannot be placed.")]})


# Broadcasts ------------------------------------------------------------------------------------------


def _broadcast_check(scope: Scope, unit_code: str) -> None:
    if not scope.sees(unit_code):
        raise ValidationError({"unit_code": [_("The unit lies outside your jurisdiction.")]})


@transaction.atomic
def broadcast_create(*, scope: Scope, actor, text: str, tag: str, unit_code: str) -> Broadcast:
    """A draft broadcast to the residents tagged `tag` under `unit_code`, with its recipient count."""
    if not _allowed(scope, DRAFT_BROADCAST):
        raise PermissionDenied(_("Your role may not draft broadcasts."))
    text = (text or "").strip()
    if not text:
        raise ValidationError({"text": [_("Write the message.")]})
    if len(text) > getattr(settings, "GEOGRID_SMS_BROADCAST_MAX_LENGTH", 335):
        raise ValidationError({"text": [_("The message is too long.")]})
    attention_tag = AttentionTag.objects.filter(code=tag, applies_to=AttentionTag.AppliesTo.RESIDENT).first()
    if attention_tag is None:
        raise ValidationError({"tag": [_("Unknown resident tag %(tag)s.") % {"tag": tag}]})
    _broadcast_check(scope, unit_code)
    broadcast = Broadcast(text=text, tag=attention_tag, unit_code=unit_code, created_by=actor)
    broadcast.recipient_count = broadcast_recipient_count(tag=attention_tag, unit_code=unit_code)
    broadcast.save()
    return broadcast


def _broadcast_locked(scope: Scope, broadcast_id: int) -> Broadcast:
    broadcast = Broadcast.objects.select_for_update().filter(scope.q("unit_code"), pk=broadcast_id).first()
    if broadcast is None:
        raise ApiError(_("Not found."), code="not_found", status_code=404)
    return broadcast


def _conflict(broadcast: Broadcast, message):
    return ApiError(message, code="conflict", status_code=409, fields={"state": [broadcast.state]})


@transaction.atomic
def broadcast_approve(*, scope: Scope, actor, broadcast_id: int) -> Broadcast:
    if not _allowed(scope, APPROVE_BROADCAST):
        raise PermissionDenied(_("Only a leader may approve a broadcast."))
    broadcast = _broadcast_locked(scope, broadcast_id)
    if broadcast.state != Broadcast.State.DRAFT:
        raise _conflict(broadcast, _("Only a draft can be approved."))
    broadcast.state = Broadcast.State.APPROVED
    broadcast.approved_by = actor
    broadcast.approved_at = timezone.now()
    broadcast.recipient_count = broadcast_recipient_count(tag=broadcast.tag, unit_code=broadcast.unit_code)
    broadcast.save()
    return broadcast


@transaction.atomic
def broadcast_send(*, scope: Scope, actor, broadcast_id: int) -> Broadcast:
    """Starts sending an approved broadcast (in the background when a worker is configured)."""
    if not _allowed(scope, DRAFT_BROADCAST):
        raise PermissionDenied(_("Your role may not send broadcasts."))
    broadcast = _broadcast_locked(scope, broadcast_id)
    if broadcast.state != Broadcast.State.APPROVED:
        raise _conflict(broadcast, _("A broadcast is sent once, after it has been approved."))
    broadcast.state = Broadcast.State.SENDING
    broadcast.save(update_fields=["state"])
    from jobs.services import task_enqueue
    from messaging.tasks import broadcast_deliver_task

    task_enqueue(broadcast_deliver_task, broadcast.pk)
    return broadcast


def broadcast_deliver(*, broadcast_id: int) -> Broadcast:
    """
    Sends a broadcast to each recipient number once, at most GEOGRID_SMS_BROADCAST_RATE messages a
    second, skipping numbers that opted out (checked when each is sent, not when it was approved).
    """
    broadcast = Broadcast.objects.select_related("tag").get(pk=broadcast_id)
    if broadcast.state != Broadcast.State.SENDING:
        return broadcast
    rate = float(getattr(settings, "GEOGRID_SMS_BROADCAST_RATE", 10))
    # Started again after its worker was lost: a message stored but not yet handed over goes first.
    for left in broadcast.messages.filter(state=Message.State.QUEUED).order_by("pk").values_list("pk", flat=True):
        message_deliver(message_id=left)
    done = set(broadcast.messages.values_list("phone_index", flat=True))
    skipped = 0
    first = True
    for resident in broadcast_recipients(tag=broadcast.tag, unit_code=broadcast.unit_code, honour_opt_out=False):
        if resident.phone_index in done:
            continue
        done.add(resident.phone_index)
        if OptOut.objects.filter(phone_index=resident.phone_index).exists():
            skipped += 1
            continue
        if not first and rate > 0:
            _sleep(1 / rate)
        first = False
        message = message_queue(
            phone=resident.phone,
            text=broadcast.text,
            kind=Message.Kind.BROADCAST,
            broadcast=broadcast,
            resident=resident,
            unit_code=resident.unit_code,
            deliver_later=False,
        )
        message_deliver(message_id=message.pk)
    # Counted from the messages, so a broadcast resumed after a lost worker counts the first run's too.
    failed = broadcast.messages.filter(state=Message.State.FAILED).count()
    Broadcast.objects.filter(pk=broadcast.pk).update(
        state=Broadcast.State.DONE,
        sent_count=broadcast.messages.count() - failed,
        failed_count=failed,
        skipped_count=skipped,
        finished_at=timezone.now(),
    )
    broadcast.refresh_from_db()
    return broadcast


def phone_opted_out(phone: str) -> bool:
    return OptOut.objects.filter(phone_index=blind_index(phone_normalize(phone))).exists()

"""Reading SMS: the message log and broadcasts in the caller's scope, recipients, residents by phone."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Exists, OuterRef, QuerySet
from django.utils.translation import gettext as _

from core.crypto import blind_index
from core.personal import phone_normalize
from core.scope import Scope, subtree_prefix
from messaging.models import Broadcast, Message, OptOut
from residents.models import AttentionTag, Resident

# Permissions: the app's own, or the incident permission the roles already carry for the same work.
VIEW_LOG = ("messaging.view_sms_log", "incidents.view_incident")
DRAFT_BROADCAST = ("messaging.add_broadcast", "incidents.supervise_incident", "incidents.dispatch_incident")
APPROVE_BROADCAST = ("messaging.approve_broadcast", "incidents.supervise_incident")


def resident_for_phone(*, phone: str) -> Resident | None:
    """The resident with this phone number (exact match on the blind index); the first one if several share it."""
    index = blind_index(phone_normalize(phone))
    if not index:
        return None
    return Resident.objects.filter(phone_index=index).select_related("household").order_by("id").first()


def message_list(
    *,
    scope: Scope,
    direction: str | None = None,
    kind: str | None = None,
    state: str | None = None,
    under: str | None = None,
    broadcast_id: int | None = None,
) -> QuerySet[Message]:
    """Messages of units in the caller's scope; a message tied to no unit is seen only by global roles."""
    if not any(scope.has(permission) for permission in VIEW_LOG):
        return Message.objects.none()
    messages = Message.objects.filter(scope.q("unit_code")).select_related("incident")
    if direction:
        messages = messages.filter(direction=direction)
    if kind:
        messages = messages.filter(kind=kind)
    if state:
        messages = messages.filter(state=state)
    if under:
        messages = messages.filter(unit_code__startswith=subtree_prefix(under))
    if broadcast_id:
        messages = messages.filter(broadcast_id=broadcast_id)
    return messages


def broadcast_list(*, scope: Scope) -> QuerySet[Broadcast]:
    return Broadcast.objects.filter(scope.q("unit_code")).select_related("tag", "created_by", "approved_by")


def broadcast_get(*, scope: Scope, broadcast_id: int) -> Broadcast | None:
    return broadcast_list(scope=scope).filter(pk=broadcast_id).first()


def broadcast_recipients(*, tag: AttentionTag, unit_code: str, honour_opt_out: bool = True) -> QuerySet[Resident]:
    """Residents with a phone carrying the tag in the unit's subtree (without opted-out numbers by default)."""
    residents = Resident.objects.filter(
        tags=tag, unit_code__startswith=subtree_prefix(unit_code), phone_index__gt=""
    ).order_by("id")
    if honour_opt_out:
        residents = residents.exclude(Exists(OptOut.objects.filter(phone_index=OuterRef("phone_index"))))
    return residents


def broadcast_recipient_count(*, tag: AttentionTag, unit_code: str) -> int:
    """How many numbers a broadcast would reach: residents sharing a phone get one message."""
    return broadcast_recipients(tag=tag, unit_code=unit_code).values("phone_index").distinct().count()


def broadcast_preview(*, scope: Scope, tag: str, unit_code: str) -> dict:
    """How many numbers a broadcast to `tag` under `unit_code` would reach, and how many opted out."""
    if not any(scope.has(permission) for permission in DRAFT_BROADCAST):
        raise PermissionDenied(_("Your role may not draft broadcasts."))
    attention_tag = AttentionTag.objects.filter(code=tag, applies_to=AttentionTag.AppliesTo.RESIDENT).first()
    if attention_tag is None:
        raise ValidationError({"tag": [_("Unknown resident tag %(tag)s.") % {"tag": tag}]})
    if not scope.sees(unit_code):
        raise ValidationError({"unit_code": [_("The unit lies outside your jurisdiction.")]})
    everyone = broadcast_recipients(tag=attention_tag, unit_code=unit_code, honour_opt_out=False)
    reachable = broadcast_recipient_count(tag=attention_tag, unit_code=unit_code)
    numbers = everyone.values("phone_index").distinct().count()
    return {"tag": tag, "unit_code": unit_code, "recipient_count": reachable, "opted_out": numbers - reachable}

"""Writing for Open311: clients and their keys, and service requests taken in as incidents."""

from __future__ import annotations

import secrets

from django.contrib.gis.geos import Point
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.services import audit_event
from core.errors import ApiError
from core.personal import phone_validate
from core.scope import Scope
from incidents.models import Category, Incident, Source
from incidents.services import incident_create
from open311.catalog import attributes_for
from open311.models import Open311Client, Open311Request, key_digest
from open311.selectors import building_for_address, building_get


def client_create(*, name: str, acts_as=None) -> tuple[Open311Client, str]:
    """A new client; its key is returned once and only its digest is stored."""
    name = name.strip()
    if not name:
        raise ValidationError({"name": [_("Give the client a name.")]})
    if Open311Client.objects.filter(name=name).exists():
        raise ValidationError({"name": [_("A client of this name exists already.")]})
    key = secrets.token_urlsafe(32)
    client = Open311Client.objects.create(name=name, key_prefix=key[:8], key_digest=key_digest(key), acts_as=acts_as)
    return client, key


def client_touch(*, client: Open311Client) -> None:
    now = timezone.now()
    if client.last_used_at is None or (now - client.last_used_at).total_seconds() > 60:
        Open311Client.objects.filter(pk=client.pk).update(last_used_at=now)


def attributes_check(*, category: Category, answers: dict[str, list[str]]) -> dict:
    """The answers to the service's attributes, checked against its definition; unknown codes are ignored."""
    checked: dict = {}
    errors: dict[str, list[str]] = {}
    for attribute in attributes_for(category):
        values = [v for v in answers.get(attribute.code, []) if v.strip()]
        field = f"attribute[{attribute.code}]"
        if not values:
            if attribute.required:
                errors[field] = [_("Required for this service.")]
            continue
        if attribute.datatype in ("singlevaluelist", "multivaluelist"):
            keys = {key for key, _name in attribute.values}
            if any(v not in keys for v in values) or (attribute.datatype == "singlevaluelist" and len(values) > 1):
                errors[field] = [_("Choose from: %(keys)s.") % {"keys": ", ".join(sorted(keys))}]
                continue
            checked[attribute.code] = values if attribute.datatype == "multivaluelist" else values[0]
        else:
            checked[attribute.code] = values[0].strip()[:200]
    if errors:
        raise ValidationError(errors)
    return checked


@transaction.atomic
def service_request_create(
    *,
    client: Open311Client,
    category: Category,
    description: str = "",
    location: Point | None = None,
    address_string: str = "",
    address_id: str = "",
    attributes: dict[str, list[str]] | None = None,
    first_name: str = "",
    last_name: str = "",
    phone: str = "",
    media_url: str = "",
) -> tuple[Incident, Open311Request]:
    """
    Takes in a GeoReport v2 request as an incident (source Open311) anywhere in the city. Without a
    point, the building is taken from the gazetteer, by its reference (`address_id`) or by its address;
    one that is not there is refused, since an incident needs a point to find its grid cell.
    """
    answers = attributes_check(category=category, answers=attributes or {})
    phone = phone_validate(phone) if phone.strip() else ""
    if location is None:
        building = building_get(ref=address_id) if address_id else building_for_address(address=address_string)
        if building is None:
            raise ApiError(
                _("lat and long are required: the address was not found in the address gazetteer."),
                fields={"lat": [_("Required.")], "long": [_("Required.")]},
            )
        location, address_id = building.location, building.ref
        address_string = address_string or building.address
    else:
        address_id = ""
    token = secrets.token_urlsafe(24)
    incident = incident_create(
        scope=Scope.everything(),
        actor=client.acts_as,
        title="",
        description=description.strip() or category.name,
        category=category,
        location=location,
        source=Source.OPEN311,
        address=address_string.strip()[:200],
        # Chinese order: family name first.
        reporter_name=f"{last_name.strip()}{first_name.strip()}"[:60],
        reporter_phone=phone,
        external_token=token,
    )
    notice = _("It will be accepted within %(hours)s hours.") % {"hours": f"{category.accept_hours:g}"}
    record = Open311Request.objects.create(
        incident=incident,
        client=client,
        attributes=answers,
        media_url=media_url,
        address_id=address_id,
        service_notice=notice[:200],
    )
    audit_event(event="open311_request", actor=client.acts_as, target=incident, data={"client": client.name})
    return incident, record

"""GeoReport v2 documents: the fields of each object, and their JSON and XML forms."""

from __future__ import annotations

import datetime as dt
import json
import xml.etree.ElementTree as ET

from django.http import HttpResponse
from django.utils import timezone

from core.personal import scrub
from incidents.models import Category, Incident, Status
from open311.catalog import attributes_for
from open311.selectors import open311_status

CONTENT_TYPES = {"json": "application/json; charset=utf-8", "xml": "text/xml; charset=utf-8"}

# The element name of a list's items in XML (JSON has plain lists).
_ITEM_TAGS = {
    "services": "service",
    "service_requests": "request",
    "errors": "error",
    "endpoints": "endpoint",
    "formats": "format",
    "attributes": "attribute",
    "values": "value",
}


def w3c(value: dt.datetime | None) -> str | None:
    """ISO 8601 with the local offset, e.g. 2026-11-27T09:30:00+08:00."""
    return timezone.localtime(value).isoformat(timespec="seconds") if value else None


def service_fields(category: Category) -> dict:
    return {
        "service_code": category.code,
        "service_name": category.name,
        "description": f"{category.parent.name} / {category.name}",
        "metadata": bool(attributes_for(category)),
        "type": "realtime",
        "keywords": ",".join([category.parent.name, category.name, str(Category.Family(category.family).label)]),
        "group": category.parent.name,
    }


def service_definition_fields(category: Category) -> dict:
    return {
        "service_code": category.code,
        "attributes": [
            {
                "variable": True,
                "code": attribute.code,
                "datatype": attribute.datatype,
                "required": attribute.required,
                "datatype_description": str(attribute.datatype_description),
                "order": attribute.order,
                "description": str(attribute.description),
                **({"values": [{"key": k, "name": str(n)} for k, n in attribute.values]} if attribute.values else {}),
            }
            for attribute in attributes_for(category)
        ],
    }


def request_fields(incident: Incident, agencies: dict[str, str]) -> dict:
    """A request as the public sees it: no reporter's name, phone or account, numbers masked in the text."""
    record = getattr(incident, "open311", None)
    notes = str(Status(incident.status).label)
    if incident.merged_into_id:
        notes = f"{notes}: {incident.merged_into.number}"
    agency = incident.assigned_department.name if incident.assigned_department_id else ""
    return {
        "service_request_id": incident.number,
        "status": open311_status(incident.status),
        "status_notes": notes,
        "service_name": incident.category.name,
        "service_code": incident.category.code,
        "description": scrub(incident.description),
        "agency_responsible": agency or agencies.get(incident.assigned_unit_code, incident.assigned_unit_code),
        "service_notice": record.service_notice if record else "",
        "requested_datetime": w3c(incident.reported_at),
        "updated_datetime": w3c(incident.updated_at),
        "expected_datetime": w3c(incident.due_at) if open311_status(incident.status) == "open" else None,
        "address": scrub(incident.address),
        "address_id": record.address_id if record else "",
        "zipcode": "",
        "lat": round(incident.location.y, 6),
        "long": round(incident.location.x, 6),
        "media_url": record.media_url if record else "",
    }


def _fill(element: ET.Element, value) -> None:
    if isinstance(value, dict):
        for key, sub in value.items():
            _fill(ET.SubElement(element, key), sub)
    elif isinstance(value, list):
        for sub in value:
            _fill(ET.SubElement(element, _ITEM_TAGS[element.tag]), sub)
    elif isinstance(value, bool):
        element.text = "true" if value else "false"
    elif value is not None:
        element.text = str(value)


def to_xml(root: str, content) -> bytes:
    element = ET.Element(root)
    _fill(element, content)
    return ET.tostring(element, encoding="utf-8", xml_declaration=True)


def render(fmt: str, root: str, content, *, status: int = 200) -> HttpResponse:
    """`content` in JSON as is, or in XML under the element `root` (lists become one element per item)."""
    body = to_xml(root, content) if fmt == "xml" else json.dumps(content, ensure_ascii=False).encode()
    return HttpResponse(body, status=status, content_type=CONTENT_TYPES[fmt])


def render_errors(fmt: str, status: int, descriptions: list[str]) -> HttpResponse:
    return render(fmt, "errors", [{"code": status, "description": str(text)} for text in descriptions], status=status)

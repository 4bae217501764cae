"""Reading for Open311: services, clients by key, gazetteer lookups and the public view of incidents."""

from __future__ import annotations

import datetime as dt

from django.contrib.postgres.search import TrigramSimilarity
from django.db.models import Func, QuerySet, Value

from boundaries.models import GridUnit
from boundaries.selectors import generation_active, valid_at_q
from core.scope import Scope
from incidents.models import OPEN_STATUSES, Category, Incident, Source, Status
from incidents.selectors import incident_scope_q
from open311.models import Open311Client, key_digest
from residents.importing import GEOCODE_THRESHOLD
from residents.models import Building

# GeoReport v2 knows two statuses. A case counts as closed once the work is done (resolved, whether or
# not the resident has evaluated it yet) or it was turned down (rejected, merged into another case);
# the internal status goes to status_notes. A resolved case may still be reopened, and is open again then.
CLOSED_STATUSES = (Status.RESOLVED, Status.EVALUATED, Status.CLOSED, Status.REJECTED, Status.MERGED)
STATUS_GROUPS = {"open": tuple(OPEN_STATUSES), "closed": CLOSED_STATUSES}

REQUEST_LIMIT = 1000
DEFAULT_WINDOW = dt.timedelta(days=90)


def open311_status(status: str) -> str:
    return "closed" if status in CLOSED_STATUSES else "open"


def service_list() -> QuerySet[Category]:
    """Every active minor class (under an active major class) is a service; its major class is the group."""
    return Category.objects.filter(active=True, parent__isnull=False, parent__active=True).select_related("parent")


def service_get(*, service_code: str) -> Category | None:
    return service_list().filter(code=service_code).first()


def client_for_key(*, key: str) -> Open311Client | None:
    if not key:
        return None
    return Open311Client.objects.filter(key_digest=key_digest(key), active=True).select_related("acts_as").first()


class _Squeezed(Func):
    """An address without white space, lower-cased: the form the household import matches on."""

    template = "lower(regexp_replace(%(expressions)s, '\\s', '', 'g'))"


def building_for_address(*, address: str) -> Building | None:
    """
    The gazetteer building of an address: the same address (ignoring spaces and case), else the most
    similar one if it is at least as similar as the household import requires.
    """
    address = address.strip()
    if not address:
        return None
    squeezed = "".join(address.split()).lower()
    exact = Building.objects.annotate(squeezed=_Squeezed("address")).filter(squeezed=squeezed).order_by("id").first()
    if exact is not None:
        return exact
    return (
        Building.objects.annotate(score=TrigramSimilarity("address", Value(address)))
        .filter(score__gte=GEOCODE_THRESHOLD)
        .order_by("-score", "id")
        .first()
    )


def building_get(*, ref: str) -> Building | None:
    return Building.objects.filter(ref=ref).first() if ref else None


def _public() -> QuerySet[Incident]:
    """
    What the public API shows: every case in the city (the scope of the system) except those raised
    from a grid worker's household visit, which tie a problem to a family's home.
    """
    return (
        Incident.objects.filter(incident_scope_q(Scope.everything()))
        .exclude(source=Source.VISIT_LOG)
        .select_related("category", "assigned_department", "merged_into", "open311")
    )


def request_list(
    *,
    service_request_ids: list[str] | None = None,
    service_codes: list[str] | None = None,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    statuses: list[str] | None = None,
    now: dt.datetime,
) -> list[Incident]:
    """
    The requests the spec's GET asks for: named ids (then every other filter is ignored), or those
    reported in [start, end) (the last 90 days by default), newest first, at most 1000.
    """
    incidents = _public()
    if service_request_ids:
        return list(incidents.filter(number__in=service_request_ids).order_by("-reported_at", "-id")[:REQUEST_LIMIT])
    if start is None and end is None:
        start = now - DEFAULT_WINDOW
    if start is not None:
        incidents = incidents.filter(reported_at__gte=start)
    if end is not None:
        incidents = incidents.filter(reported_at__lt=end)
    if service_codes:
        incidents = incidents.filter(category__code__in=service_codes)
    if statuses:
        incidents = incidents.filter(status__in=[s for group in statuses for s in STATUS_GROUPS[group]])
    return list(incidents.order_by("-reported_at", "-id")[:REQUEST_LIMIT])


def request_get(*, service_request_id: str) -> Incident | None:
    return _public().filter(number=service_request_id).first()


def request_for_token(*, token: str) -> Incident | None:
    if not token:
        return None
    return _public().filter(source=Source.OPEN311, external_token=token).first()


def unit_names(codes) -> dict[str, str]:
    """Names of units by code, as drawn in the active generation."""
    generation = generation_active()
    codes = {code for code in codes if code}
    if generation is None or not codes:
        return {}
    return dict(GridUnit.objects.filter(valid_at_q(generation), code__in=codes).values_list("code", "name"))

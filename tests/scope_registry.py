"""
Every endpoint that returns records registers here; tests/test_scope_contract.py runs the same
checks against each: anonymous callers get 401/403, a caller with no jurisdiction sees nothing, a
caller bound to the west street of the small city sees exactly the west street's records, and the
east street's records answer 404 to them.

An entry names how to list (a URL and how to read ids from the answer) and, optionally, how to
open one record, plus `records(city)`: the ids expected in the west and in the east street for
the small city of tests/conftest.py (after its own `setup(city)`, if the records need creating).
"""

import json
from collections.abc import Callable
from dataclasses import dataclass, field

WEST, EAST = "110101001", "110101002"


@dataclass(frozen=True)
class ScopedEndpoint:
    name: str
    list_url: str | None
    ids: Callable[[object], list[str]]
    records: Callable[[dict], tuple[list[str], list[str]]]
    detail_url: Callable[[str], str] | None = None
    role: str = "viewer"
    setup: Callable[[dict], None] | None = None
    paging: dict = field(default_factory=lambda: {"page_size": 1000})


def feature_ids(response) -> list[str]:
    body = b"".join(response.streaming_content) if response.streaming else response.content
    return [str(feature["id"]) for feature in json.loads(body)["features"]]


def result_ids(key: str = "id"):
    def read(response) -> list[str]:
        return [str(row[key]) for row in response.json()["results"]]

    return read


def _units_in(city, prefix):
    return sorted(code for code in city if code.startswith(prefix))


def _population(city) -> None:
    import datetime as dt

    from django.contrib.gis.geos import Point

    from core.scope import Scope
    from residents.services import household_create, resident_create

    everything = Scope.everything()
    for ref, lon, lat in (("W1", 116.385, 39.905), ("W2", 116.395, 39.935), ("E1", 116.41, 39.905)):
        household = household_create(scope=everything, location=Point(lon, lat, srid=4326), address=f"{ref}号", ref=ref)
        resident_create(
            scope=everything,
            household=household,
            name=f"{ref}户主",
            relation="head",
            gender="male",
            birth_date=dt.date(1970, 1, 1),
        )


def _households(city):
    from residents.models import Household

    ids = {h.ref: str(h.pk) for h in Household.objects.all()}
    return [ids["W1"], ids["W2"]], [ids["E1"]]


def _residents(city):
    from residents.models import Resident

    ids = {r.name: str(r.pk) for r in Resident.objects.all()}
    return [ids["W1户主"], ids["W2户主"]], [ids["E1户主"]]


def _cases(city) -> None:
    from django.contrib.gis.geos import Point
    from django.utils import timezone

    from accounts.models import User
    from core.scope import Scope
    from incidents.models import Category
    from incidents.services import incident_create, visit_log_create

    everything = Scope.everything()
    worker = User.objects.create(username="case-worker")
    category = Category.objects.get(code="E0102")  # handled by the community
    for title, lon, lat in (("W1", 116.385, 39.905), ("W2", 116.395, 39.935), ("E1", 116.41, 39.905)):
        point = Point(lon, lat, srid=4326)
        incident_create(
            scope=everything,
            actor=None,
            title=title,
            description=title,
            category=category,
            location=point,
            source="hotline",
        )
        visit_log_create(scope=everything, worker=worker, visited_at=timezone.now(), location=point, discussion=title)


def _incidents(city):
    from incidents.models import Incident

    ids = {i.title: str(i.pk) for i in Incident.objects.all()}
    return [ids["W1"], ids["W2"]], [ids["E1"]]


def _incident_numbers(city):
    from incidents.models import Incident

    ids = {i.title: i.number for i in Incident.objects.all()}
    return [ids["W1"], ids["W2"]], [ids["E1"]]


def _cells(city, prefix):
    return [code for code in _units_in(city, prefix) if len(code) == 15]


def _visit_logs(city):
    from incidents.models import VisitLog

    ids = {v.discussion: str(v.pk) for v in VisitLog.objects.all()}
    return [ids["W1"], ids["W2"]], [ids["E1"]]


def _rollup() -> None:
    import datetime as dt

    from assessment.periods import Period
    from assessment.services import kpi_refresh_period

    kpi_refresh_period(Period("month", dt.date(2026, 10, 1)))


ENDPOINTS = [
    ScopedEndpoint(
        name="ogcapi grid cells",
        list_url="/ogcapi/collections/units-grid/items",
        ids=feature_ids,
        records=lambda city: (_cells(city, WEST), _cells(city, EAST)),
        detail_url=lambda code: f"/ogcapi/collections/units-grid/items/{code}",
        paging={"limit": 1000},
    ),
    ScopedEndpoint(
        name="ogcapi incidents",
        list_url="/ogcapi/collections/incidents/items",
        ids=feature_ids,
        records=_incident_numbers,
        detail_url=lambda number: f"/ogcapi/collections/incidents/items/{number}",
        setup=_cases,
        paging={"limit": 1000},
    ),
    ScopedEndpoint(
        name="units",
        list_url="/api/v1/units/",
        ids=feature_ids,
        records=lambda city: (_units_in(city, WEST), _units_in(city, EAST)),
        detail_url=lambda code: f"/api/v1/units/{code}/",
    ),
    ScopedEndpoint(
        name="unit children",
        list_url="/api/v1/units/110101001001/children/",
        ids=feature_ids,
        records=lambda city: (["110101001001001", "110101001001002"], []),
        detail_url=lambda code: f"/api/v1/units/{code}/children/",
    ),
    ScopedEndpoint(
        name="users",
        list_url="/api/v1/users/",
        ids=result_ids("username"),
        role="street_leader",
        records=lambda city: (["west-staff"], ["east-staff"]),
        setup=lambda city: _staff(),
    ),
    ScopedEndpoint(
        name="households",
        list_url="/api/v1/households/",
        ids=result_ids(),
        records=_households,
        detail_url=lambda pk: f"/api/v1/households/{pk}/",
        setup=_population,
    ),
    ScopedEndpoint(
        name="households near a point",
        list_url="/api/v1/households/?near=116.40,39.92&radius=5000",
        ids=result_ids(),
        records=_households,
        setup=_population,
    ),
    ScopedEndpoint(
        name="households at a point",
        list_url="/api/v1/households/at/?lon=116.385&lat=39.905&tolerance=500",
        ids=lambda response: [str(row["id"]) for row in response.json()["results"]],
        records=lambda city: (_households(city)[0][:1], []),
        setup=_population,
    ),
    ScopedEndpoint(
        name="residents",
        list_url="/api/v1/residents/",
        ids=result_ids(),
        records=_residents,
        detail_url=lambda pk: f"/api/v1/residents/{pk}/",
        setup=_population,
    ),
    ScopedEndpoint(
        name="household export",
        list_url="/api/v1/households/export.geojson",
        ids=feature_ids,
        records=_households,
        role="street_leader",
        setup=_population,
    ),
    ScopedEndpoint(
        name="incidents",
        list_url="/api/v1/incidents/",
        ids=result_ids(),
        records=_incidents,
        detail_url=lambda pk: f"/api/v1/incidents/{pk}/",
        setup=_cases,
    ),
    ScopedEndpoint(
        name="incident duplicates",
        list_url="/api/v1/incidents/duplicates/?category=E0102&near=116.385,39.905",
        ids=lambda response: [str(row["id"]) for row in response.json()["results"]],
        records=lambda city: (_incidents(city)[0][:1], []),
        setup=_cases,
    ),
    ScopedEndpoint(
        name="visit logs",
        list_url="/api/v1/visit-logs/",
        ids=result_ids(),
        records=_visit_logs,
        detail_url=lambda pk: f"/api/v1/visit-logs/{pk}/",
        setup=_cases,
    ),
    ScopedEndpoint(
        name="incident progress",
        list_url=None,
        ids=result_ids(),
        records=lambda city: (["110101001", "110101001001"], ["110101002", "110101"]),
        detail_url=lambda code: f"/api/v1/incidents/progress/?unit={code}",
    ),
    ScopedEndpoint(
        name="kpi table",
        list_url="/api/v1/kpi/units/?period=month:2026-10&level=street",
        ids=lambda response: [row["code"] for row in response.json()["results"]],
        records=lambda city: (["110101001"], ["110101002"]),
        detail_url=lambda code: f"/api/v1/kpi/units/{code}/?period=month:2026-10",
        setup=lambda city: _rollup(),
    ),
    ScopedEndpoint(
        name="unit statistics",
        list_url=None,
        ids=feature_ids,
        records=lambda city: (["110101001", "110101001001"], ["110101002", "110101"]),
        detail_url=lambda code: f"/api/v1/units/{code}/stats/",
    ),
]


def _staff() -> None:
    from accounts.services import user_create
    from core.scope import Scope

    for username, code in (("west-staff", "110101001001001"), ("east-staff", "110101002001001")):
        user_create(scope=Scope.everything(), username=username, password=None, roles=["grid_worker"], units=[code])


# The SMS platform's endpoints live with its tests.
from tests.messaging.scope_entries import SMS_ENDPOINTS  # noqa: E402

ENDPOINTS += SMS_ENDPOINTS

"""Open311 GeoReport v2: every endpoint in JSON and XML, against the spec's field lists."""

import datetime as dt
import xml.etree.ElementTree as ET
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.contrib.gis.geos import Point
from django.core.management import call_command
from django.test import override_settings
from django.utils import timezone

from core.scope import Scope
from incidents.models import Category, Incident, Source, Status
from incidents.services import incident_create
from open311 import selectors
from open311.models import Open311Client, Open311Request, key_digest
from open311.services import client_create
from residents.models import Building

BASE = "/open311/v2"
WEST_CELL = Point(116.385, 39.905, srid=4326)  # grid cell 110101001001001
EAST_NORTH = Point(116.41, 39.93, srid=4326)  # grid cell 110101002001002

# The spec's field lists (wiki.open311.org/GeoReport_v2).
SERVICE_FIELDS = {"service_code", "service_name", "description", "metadata", "type", "keywords", "group"}
ATTRIBUTE_FIELDS = {"variable", "code", "datatype", "required", "datatype_description", "order", "description"}
REQUEST_FIELDS = {
    "service_request_id",
    "status",
    "status_notes",
    "service_name",
    "service_code",
    "description",
    "agency_responsible",
    "service_notice",
    "requested_datetime",
    "updated_datetime",
    "expected_datetime",
    "address",
    "address_id",
    "zipcode",
    "lat",
    "long",
    "media_url",
}
POST_ANSWER_FIELDS = {"service_request_id", "token", "service_notice", "account_id"}
DISCOVERY_FIELDS = {"changeset", "contact", "key_service", "endpoints"}
ENDPOINT_FIELDS = {"specification", "url", "changeset", "type", "formats"}

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    client.force_login(get_user_model().objects.create_superuser("superroot", "root@example.org", "a-long-password-1"))
    return client


@pytest.fixture
def open311_key(small_city):
    _client, key = client_create(name="city app")
    return key


def xml_of(response) -> ET.Element:
    assert response["Content-Type"].startswith("text/xml")
    return ET.fromstring(response.content)  # noqa: S314 (our own answer)


def incident(point=WEST_CELL, category="E0401", source=Source.WEB, ago=dt.timedelta(hours=1), **extra):
    return incident_create(
        scope=Scope.everything(),
        actor=None,
        title="",
        description=extra.pop("description", "路边有人占道经营。"),
        category=Category.objects.get(code=category),
        location=point,
        source=source,
        reported_at=timezone.now() - ago,
        **extra,
    )


def post(api_client, fmt="json", **fields):
    return api_client.post(f"{BASE}/requests.{fmt}", fields)


# Discovery and services


def test_discovery_json_and_xml(client):
    document = client.get(f"{BASE}/discovery.json").json()
    assert set(document) == DISCOVERY_FIELDS
    (endpoint,) = document["endpoints"]
    assert set(endpoint) == ENDPOINT_FIELDS
    assert endpoint["url"].endswith("/open311/v2/")
    assert endpoint["specification"] == "http://wiki.open311.org/GeoReport_v2"
    root = xml_of(client.get(f"{BASE}/discovery.xml"))
    assert root.tag == "discovery"
    assert [f.text for f in root.findall("endpoints/endpoint/formats/format")] == ["text/xml", "application/json"]


def test_unknown_format_is_not_found(client):
    assert client.get(f"{BASE}/discovery.csv").status_code == 404


def test_services_are_the_minor_classes(client):
    services = client.get(f"{BASE}/services.json").json()
    minors = Category.objects.filter(active=True, parent__isnull=False)
    assert len(services) == minors.count()
    assert all(set(s) == SERVICE_FIELDS for s in services)
    by_code = {s["service_code"]: s for s in services}
    category = Category.objects.select_related("parent").get(code="E0401")
    assert by_code["E0401"]["service_name"] == category.name
    assert by_code["E0401"]["group"] == category.parent.name
    assert by_code["E0401"]["type"] == "realtime"
    assert by_code["E0401"]["metadata"] is False  # events ask nothing
    assert by_code["C0101"]["metadata"] is True  # components ask what is wrong
    assert "C01" not in by_code  # major classes are groups, not services


def test_services_xml(client):
    root = xml_of(client.get(f"{BASE}/services.xml"))
    assert root.tag == "services"
    first = root.find("service")
    assert {child.tag for child in first} == SERVICE_FIELDS
    assert first.findtext("metadata") in ("true", "false")


def test_service_definition(client):
    definition = client.get(f"{BASE}/services/C0101.json").json()
    assert definition["service_code"] == "C0101"
    condition, asset = definition["attributes"]
    assert set(condition) >= ATTRIBUTE_FIELDS and set(condition) - ATTRIBUTE_FIELDS == {"values"}
    assert condition["datatype"] == "singlevaluelist"
    assert {v["key"] for v in condition["values"]} == {"damaged", "missing", "displaced"}
    assert set(asset) == ATTRIBUTE_FIELDS
    assert client.get(f"{BASE}/services/E0401.json").json() == {"service_code": "E0401", "attributes": []}
    root = xml_of(client.get(f"{BASE}/services/C0101.xml"))
    assert root.tag == "service_definition"
    assert root.findtext("attributes/attribute/variable") == "true"
    assert root.findtext("attributes/attribute/values/value/key") == "damaged"


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_unknown_service_is_404_in_the_spec_shape(client, fmt):
    response = client.get(f"{BASE}/services/X9999.{fmt}")
    assert response.status_code == 404
    if fmt == "json":
        (error,) = response.json()
        assert error["code"] == 404 and "X9999" in error["description"]
    else:
        root = xml_of(response)
        assert root.tag == "errors" and root.findtext("error/code") == "404"


# Posting requests


def test_post_creates_an_incident_from_open311_at_its_grid_cell(api_client, open311_key):
    response = post(
        api_client,
        api_key=open311_key,
        service_code="C0101",
        lat="39.905",
        long="116.385",
        description="井盖丢了，电话13812345678",
        first_name="桂英",
        last_name="张",
        phone="13812345678",
        email="zhang@example.com",
        account_id="acc-7",
        device_id="dev-1",
        media_url="https://example.com/p/1.jpg",
        **{"attribute[condition]": "missing", "attribute[asset_id]": "110101-0123", "attribute[other]": "x"},
    )
    assert response.status_code == 201, response.content
    (answer,) = response.json()
    assert set(answer) == POST_ANSWER_FIELDS
    assert answer["account_id"] == "acc-7"
    created = Incident.objects.get(number=answer["service_request_id"])
    assert created.source == Source.OPEN311
    assert created.grid_code == "110101001001001"
    assert created.category.code == "C0101"
    assert created.reporter_name == "张桂英"
    assert created.reporter_phone == "13812345678"
    assert created.external_token == answer["token"]
    record = Open311Request.objects.get(incident=created)
    assert record.client.name == "city app"
    assert record.attributes == {"condition": "missing", "asset_id": "110101-0123"}
    assert record.media_url == "https://example.com/p/1.jpg"


def test_post_xml_answer(api_client, open311_key):
    response = post(api_client, "xml", api_key=open311_key, service_code="E0401", lat="39.93", long="116.41")
    assert response.status_code == 201
    root = xml_of(response)
    assert root.tag == "service_requests"
    number = root.findtext("request/service_request_id")
    created = Incident.objects.get(number=number)
    assert created.grid_code == "110101002001002"
    assert created.description == created.category.name  # the spec makes a description optional


def test_post_by_a_client_acting_as_staff(api_client, small_city, make_user):
    staff = make_user("dispatcher", units=["110101001"])
    _client, key = client_create(name="hotline", acts_as=staff)
    number = post(api_client, api_key=key, service_code="E0401", lat="39.93", long="116.41").json()[0][
        "service_request_id"
    ]
    created = Incident.objects.get(number=number)
    # Anywhere in the city, even outside the acting account's own units.
    assert created.unit_code.startswith("110101002")
    assert created.reporter_user == staff
    assert created.events.get(action="report").actor == staff


@pytest.mark.parametrize(
    ("fields", "status", "fragment"),
    [
        ({"api_key": ""}, 403, "api_key"),
        ({"api_key": "wrong"}, 403, "api_key"),
        ({"service_code": ""}, 400, "service_code"),
        ({"service_code": "X9999"}, 404, "X9999"),
        ({"lat": "", "long": ""}, 400, "lat"),
        ({"long": ""}, 400, "lat"),
        ({"lat": "139.905"}, 400, "Latitude"),
        ({"lat": "39.5"}, 400, "outside the city"),
        ({"service_code": "C0101", "attribute[condition]": "burnt"}, 400, "attribute[condition]"),
        ({"phone": "12345"}, 400, "phone"),
        ({"email": "not-mail"}, 400, "e-mail"),
        ({"media_url": "ftp://x/y"}, 400, "URL"),
        ({"description": "x" * 4001}, 400, "4000"),
    ],
)
def test_post_bad_input(api_client, open311_key, fields, status, fragment):
    data = {"api_key": open311_key, "service_code": "E0401", "lat": "39.905", "long": "116.385", **fields}
    response = api_client.post(f"{BASE}/requests.json", data)
    assert response.status_code == status, response.content
    (error,) = response.json()
    assert error["code"] == status
    assert fragment in error["description"]
    assert not Incident.objects.exists()


def test_post_errors_in_xml(api_client, small_city):
    response = post(api_client, "xml", api_key="wrong", service_code="E0401", lat="39.905", long="116.385")
    assert response.status_code == 403
    root = xml_of(response)
    assert root.tag == "errors"
    assert root.findtext("error/code") == "403"
    assert root.findtext("error/description")


def test_inactive_client_is_refused(api_client, open311_key):
    Open311Client.objects.update(active=False)
    response = post(api_client, api_key=open311_key, service_code="E0401", lat="39.905", long="116.385")
    assert response.status_code == 403


def test_address_only_is_placed_by_the_gazetteer(api_client, open311_key):
    Building.objects.create(ref="B-17", address="东大街8号楼", location=EAST_NORTH, unit_code="110101002001002")
    response = post(api_client, api_key=open311_key, service_code="E0401", address_string="东大街 8号楼")
    assert response.status_code == 201, response.content
    created = Incident.objects.get(number=response.json()[0]["service_request_id"])
    assert created.grid_code == "110101002001002"
    assert created.address == "东大街 8号楼"
    detail = api_client.get(f"{BASE}/requests/{created.number}.json").json()[0]
    assert detail["address_id"] == "B-17"


def test_address_id_names_a_gazetteer_building(api_client, open311_key):
    Building.objects.create(ref="B-17", address="东大街8号楼", location=EAST_NORTH, unit_code="110101002001002")
    response = post(api_client, api_key=open311_key, service_code="E0401", address_id="B-17")
    assert response.status_code == 201, response.content
    created = Incident.objects.get(number=response.json()[0]["service_request_id"])
    assert (created.grid_code, created.address) == ("110101002001002", "东大街8号楼")
    assert post(api_client, api_key=open311_key, service_code="E0401", address_id="B-99").status_code == 400


def test_address_not_in_the_gazetteer_needs_coordinates(api_client, open311_key):
    response = post(api_client, api_key=open311_key, service_code="E0401", address_string="火星路1号")
    assert response.status_code == 400
    assert "lat and long are required" in response.json()[0]["description"]
    assert not Incident.objects.exists()


def test_json_bodies_are_refused(api_client, open311_key):
    response = api_client.post(
        f"{BASE}/requests.json", {"api_key": open311_key, "service_code": "E0401"}, format="json"
    )
    assert response.status_code == 415
    assert response.json()[0]["code"] == 415


# Reading requests


def test_request_fields_and_detail(client, small_city):
    case = incident()
    listed = client.get(f"{BASE}/requests.json").json()
    assert [r["service_request_id"] for r in listed] == [case.number]
    (detail,) = client.get(f"{BASE}/requests/{case.number}.json").json()
    assert set(detail) == REQUEST_FIELDS
    assert detail["status"] == "open" and detail["status_notes"] == "reported"
    assert detail["service_code"] == "E0401"
    assert (detail["lat"], detail["long"]) == (39.905, 116.385)
    assert detail["requested_datetime"].endswith("+08:00")
    assert detail["expected_datetime"] is not None
    assert detail["agency_responsible"] and not detail["agency_responsible"].isdigit()
    root = xml_of(client.get(f"{BASE}/requests/{case.number}.xml"))
    assert root.tag == "service_requests"
    assert {child.tag for child in root.find("request")} == REQUEST_FIELDS
    assert root.findtext("request/status") == "open"


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_unknown_request_is_404(client, small_city, fmt):
    response = client.get(f"{BASE}/requests/99999999.{fmt}")
    assert response.status_code == 404


def test_cases_from_household_visits_are_not_public(client, small_city):
    case = incident(source=Source.VISIT_LOG)
    assert client.get(f"{BASE}/requests/{case.number}.json").status_code == 404
    assert client.get(f"{BASE}/requests.json").json() == []


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (Status.REPORTED, "open"),
        (Status.ACCEPTED, "open"),
        (Status.DISPATCHED, "open"),
        (Status.IN_PROGRESS, "open"),
        (Status.RETURNED, "open"),
        (Status.ESCALATED, "open"),
        (Status.RESOLVED, "closed"),
        (Status.EVALUATED, "closed"),
        (Status.CLOSED, "closed"),
        (Status.REJECTED, "closed"),
    ],
)
def test_status_mapping(client, small_city, status, expected):
    case = incident()
    Incident.objects.filter(pk=case.pk).update(status=status)
    (detail,) = client.get(f"{BASE}/requests/{case.number}.json").json()
    assert detail["status"] == expected
    assert detail["status_notes"] == Status(status).label
    assert (detail["expected_datetime"] is None) == (expected == "closed")


def test_merged_case_is_closed_and_names_its_target(client, small_city):
    target, duplicate = incident(), incident()
    Incident.objects.filter(pk=duplicate.pk).update(status=Status.MERGED, merged_into=target)
    (detail,) = client.get(f"{BASE}/requests/{duplicate.number}.json").json()
    assert detail["status"] == "closed"
    assert detail["status_notes"] == f"merged: {target.number}"


def test_every_status_is_mapped():
    assert set(selectors.STATUS_GROUPS["open"]) | set(selectors.STATUS_GROUPS["closed"]) == set(Status.values)


def test_filters(client, small_city):
    lamp = incident(category="C0107")
    stall = incident(category="E0401")
    closed = incident(category="E0401")
    Incident.objects.filter(pk=closed.pk).update(status=Status.CLOSED)
    old = incident(ago=dt.timedelta(days=120))

    def numbers(**params):
        response = client.get(f"{BASE}/requests.json", params)
        assert response.status_code == 200, response.content
        return {r["service_request_id"] for r in response.json()}

    assert numbers() == {lamp.number, stall.number, closed.number}  # the last 90 days by default
    assert numbers(service_code="C0107") == {lamp.number}
    assert numbers(service_code="C0107,E0401", status="open") == {lamp.number, stall.number}
    assert numbers(status="closed") == {closed.number}
    assert numbers(status="open,closed") == {lamp.number, stall.number, closed.number}
    # Named ids override every other filter, even the window.
    assert numbers(service_request_id=f"{old.number},{lamp.number}", service_code="E0401") == {
        old.number,
        lamp.number,
    }
    start = (timezone.now() - dt.timedelta(days=130)).isoformat()
    end = (timezone.now() - dt.timedelta(days=100)).isoformat()
    assert numbers(start_date=start, end_date=end) == {old.number}
    assert numbers(end_date=end) == {old.number}
    assert numbers(start_date=start.replace("+", " "), end_date=end) == {old.number}  # an unescaped "+"
    assert numbers(start_date="2020-01-01") == {lamp.number, stall.number, closed.number, old.number}


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"status": "pending"}, "status"),
        ({"start_date": "yesterday"}, "start_date"),
        ({"start_date": "2026-01-01T00:00:00Z", "end_date": "2026-06-01T00:00:00Z"}, "90 days"),
    ],
)
@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_bad_filters(client, small_city, params, fragment, fmt):
    response = client.get(f"{BASE}/requests.{fmt}", params)
    assert response.status_code == 400
    if fmt == "json":
        assert fragment in response.json()[0]["description"]
    else:
        assert fragment in xml_of(response).findtext("error/description")


def test_at_most_the_limit(client, small_city, monkeypatch):
    monkeypatch.setattr(selectors, "REQUEST_LIMIT", 2)
    cases = [incident(ago=dt.timedelta(hours=h)) for h in (3, 2, 1)]
    listed = client.get(f"{BASE}/requests.json").json()
    assert [r["service_request_id"] for r in listed] == [cases[2].number, cases[1].number]


def test_no_personal_data_in_answers(client, api_client, open311_key):
    response = post(
        api_client,
        api_key=open311_key,
        service_code="E0401",
        lat="39.905",
        long="116.385",
        description="摊贩占道，联系我13812345678，身份证11010519491231002X",
        first_name="桂英",
        last_name="张",
        phone="13912345678",
        email="zhang@example.com",
        account_id="acc-7",
    )
    number = response.json()[0]["service_request_id"]
    for url in (f"{BASE}/requests/{number}.json", f"{BASE}/requests.json", f"{BASE}/requests/{number}.xml"):
        body = client.get(url).content.decode()
        for personal in ("张桂英", "桂英", "13912345678", "13812345678", "11010519491231002X", "zhang@", "acc-7"):
            assert personal not in body, (url, personal)
    assert "138****5678" in client.get(f"{BASE}/requests/{number}.json").json()[0]["description"]


def test_tokens(client, api_client, open311_key):
    answer = post(api_client, api_key=open311_key, service_code="E0401", lat="39.905", long="116.385").json()[0]
    assert client.get(f"{BASE}/tokens/{answer['token']}.json").json() == [
        {"service_request_id": answer["service_request_id"], "token": answer["token"]}
    ]
    root = xml_of(client.get(f"{BASE}/tokens/{answer['token']}.xml"))
    assert root.findtext("request/service_request_id") == answer["service_request_id"]
    assert client.get(f"{BASE}/tokens/nope.json").status_code == 404


def test_reads_are_throttled(client, small_city):
    with override_settings(GEOGRID_OPEN311_RATE="3/min"):
        codes = [client.get(f"{BASE}/services.json").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]


def test_get_only_endpoints_refuse_posts(client, small_city):
    response = client.post(f"{BASE}/services.json")
    assert response.status_code == 405
    assert response.json()[0]["code"] == 405


# Clients and keys


def test_the_key_is_stored_only_as_a_digest(small_city):
    client, key = client_create(name="partner")
    stored = Open311Client.objects.filter(pk=client.pk).values().get()
    assert key not in [str(value) for value in stored.values()]
    assert stored["key_digest"] == key_digest(key) != key
    assert stored["key_prefix"] == key[:8]
    assert selectors.client_for_key(key=key) == client
    assert selectors.client_for_key(key=key_digest(key)) is None


def test_command_prints_a_working_key_once(api_client, small_city):
    out, err = StringIO(), StringIO()
    call_command("open311_client", "create", "城市管理App", stdout=out, stderr=err)
    key = out.getvalue().strip()
    assert "only this once" in err.getvalue()
    assert Open311Client.objects.get(name="城市管理App").key_digest == key_digest(key)
    response = post(api_client, api_key=key, service_code="E0401", lat="39.905", long="116.385")
    assert response.status_code == 201
    listing = StringIO()
    call_command("open311_client", "list", stdout=listing)
    assert key not in listing.getvalue() and key[:8] in listing.getvalue()


def test_admin_lists_clients_but_does_not_add_them(admin_client, small_city):
    client, _key = client_create(name="partner")
    Open311Request.objects.create(incident=incident(), client=client)
    page = admin_client.get("/admin/open311/open311client/")
    assert page.status_code == 200 and client.key_prefix in page.content.decode()
    assert admin_client.get(f"/admin/open311/open311client/{client.pk}/change/").status_code == 200
    assert admin_client.get("/admin/open311/open311client/add/").status_code == 403
    assert admin_client.get("/admin/open311/open311request/").status_code == 200

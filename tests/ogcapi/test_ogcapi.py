"""OGC API - Features at /ogcapi/: documents, items, filters, errors, scope, HTML, and GDAL as a client."""

import datetime as dt
import json
import re
import subprocess

import pytest
from django.contrib.gis.geos import Point
from django.utils import timezone
from shapely.geometry import box as shapely_box
from shapely.geometry import shape

from accounts.selectors import scope_for_user, scope_forget
from accounts.services import token_create
from incidents.models import Category
from incidents.services import incident_create

WEST_CELL = Point(116.385, 39.905, srid=4326)  # cell 110101001001001
WEST_NORTH = Point(116.39, 39.93, srid=4326)  # cell 110101001002002
EAST_CELL = Point(116.41, 39.905, srid=4326)  # cell 110101002001001
BASE = "/ogcapi"
CONFORMANCE_CORE = "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core"


def body(response) -> dict:
    return json.loads(response.content)


def rels(document) -> dict:
    """Each relation's first link (the JSON one, when there are JSON and HTML alternatives)."""
    found: dict = {}
    for link in document["links"]:
        found.setdefault(link["rel"], link)
    return found


@pytest.fixture
def city(small_city, client_for):
    return client_for("city_leader", ["110100"])


@pytest.fixture
def west(small_city, client_for):
    return client_for("viewer", ["110101001"])


@pytest.fixture
def report(small_city, make_user):
    """report(point, at=..., title=...) -> an incident reported through the service by an administrator."""
    admin = make_user("system_admin", ["110100"], username="root")

    def make(point=WEST_CELL, at=None, **extra):
        return incident_create(
            scope=scope_for_user(admin),
            actor=admin,
            title=extra.pop("title", "占道经营"),
            description=extra.pop("description", "联系人 张三 13812345678"),
            category=Category.objects.get(code="E0401"),
            location=point,
            source="patrol",
            reported_at=at or timezone.now() - dt.timedelta(minutes=5),
            reporter_name="张三",
            reporter_phone="13812345678",
            **extra,
        )

    return make


@pytest.mark.django_db
class TestDocuments:
    def test_landing_page_links(self, city):
        response = city.get(f"{BASE}/")
        assert response.status_code == 200
        assert response["Content-Type"].startswith("application/json")
        links = rels(body(response))
        assert {"self", "alternate", "service-desc", "conformance", "data"} <= set(links)
        assert links["data"]["href"].endswith("/ogcapi/collections?f=json")
        assert city.get(links["service-desc"]["href"]).json()["openapi"].startswith("3.0")
        # Clients given the address without its slash are sent on, with their query.
        moved = city.get(BASE, {"f": "json"})
        assert moved.status_code == 301 and moved["Location"] == "/ogcapi/?f=json"

    def test_conformance(self, city):
        document = city.get(f"{BASE}/conformance").json()
        assert CONFORMANCE_CORE in document["conformsTo"]
        assert any(c.endswith("/conf/geojson") for c in document["conformsTo"])
        assert any(c.endswith("/conf/html") for c in document["conformsTo"])

    def test_collections_and_their_extents(self, city):
        document = city.get(f"{BASE}/collections").json()
        ids = [c["id"] for c in document["collections"]]
        assert ids == ["units-city", "units-district", "units-street", "units-community", "units-grid", "incidents"]
        grid = document["collections"][4]
        assert grid["extent"]["spatial"]["bbox"][0] == pytest.approx([116.38, 39.90, 116.42, 39.94])
        assert {"self", "alternate", "items"} <= set(rels(grid))
        assert rels(grid)["items"]["type"] == "application/geo+json"
        one = city.get(f"{BASE}/collections/units-grid").json()
        assert one["id"] == "units-grid" and one["itemType"] == "feature"
        assert "temporal" in city.get(f"{BASE}/collections/incidents").json()["extent"]

    def test_anonymous_gets_401_json(self, small_city, api_client):
        for path in ("/", "/collections", "/collections/units-grid/items"):
            response = api_client.get(BASE + path)
            assert response.status_code == 401
            assert response.json()["error"]["code"] == "not_authenticated"

    def test_unknown_collection_and_feature_404(self, city):
        assert city.get(f"{BASE}/collections/households").status_code == 404
        assert city.get(f"{BASE}/collections/households/items").json()["error"]["code"] == "not_found"
        assert city.get(f"{BASE}/collections/units-grid/items/110101009009009").status_code == 404
        # A street code is not a feature of the grid-cell collection.
        assert city.get(f"{BASE}/collections/units-grid/items/110101001").status_code == 404


@pytest.mark.django_db
class TestItems:
    def test_units_feature_collection(self, city):
        response = city.get(f"{BASE}/collections/units-grid/items")
        assert response.status_code == 200
        assert response["Content-Type"] == "application/geo+json"
        document = body(response)
        assert document["type"] == "FeatureCollection"
        assert document["numberMatched"] == document["numberReturned"] == 6
        assert document["timeStamp"].endswith("Z")
        feature = next(f for f in document["features"] if f["id"] == "110101001001001")
        assert feature["properties"] == {
            "code": "110101001001001",
            "name": "西南社区第1网格",
            "level": "grid",
            "parent_code": "110101001001",
            "area_m2": pytest.approx(feature["properties"]["area_m2"]),
        }
        assert 1.85e6 < feature["properties"]["area_m2"] < 1.95e6  # 0.01° x 0.02° at 39.9° N: about 854 m x 2220 m
        assert feature["geometry"]["type"] == "MultiPolygon"

    def test_paging_with_next_and_prev(self, city):
        url = f"{BASE}/collections/units-grid/items?limit=4"
        first = city.get(url).json()
        assert first["numberMatched"] == 6 and first["numberReturned"] == 4
        links = rels(first)
        assert "prev" not in links
        assert "offset=4" in links["next"]["href"] and "limit=4" in links["next"]["href"]
        second = city.get(links["next"]["href"]).json()
        assert second["numberReturned"] == 2
        assert "next" not in rels(second)
        assert "offset=0" in rels(second)["prev"]["href"]
        ids = [f["id"] for f in first["features"] + second["features"]]
        assert ids == sorted(ids) and len(set(ids)) == 6
        beyond = city.get(f"{BASE}/collections/units-grid/items?offset=10").json()
        assert beyond["numberMatched"] == 6 and beyond["features"] == []

    def test_bbox_matches_shapely(self, city):
        everything = city.get(f"{BASE}/collections/units-grid/items").json()["features"]
        for bbox in (
            (116.381, 39.901, 116.389, 39.909),
            (116.386, 39.926, 116.394, 39.934),
            (116.395, 39.915, 116.405, 39.925),
        ):
            expected = sorted(f["id"] for f in everything if shape(f["geometry"]).intersects(shapely_box(*bbox)))
            response = city.get(f"{BASE}/collections/units-grid/items", {"bbox": ",".join(map(str, bbox))})
            assert sorted(f["id"] for f in response.json()["features"]) == expected
            assert response.json()["numberMatched"] == len(expected)
        # The ring's hole is filled by cell 002: a box inside the hole meets only that cell.
        inside_hole = city.get(f"{BASE}/collections/units-grid/items?bbox=116.388,39.928,116.392,39.932").json()
        assert [f["id"] for f in inside_hole["features"]] == ["110101001002002"]

    def test_single_item(self, city):
        response = city.get(f"{BASE}/collections/units-street/items/110101002")
        assert response.status_code == 200
        assert response["Content-Type"] == "application/geo+json"
        feature = body(response)
        assert feature["id"] == "110101002" and feature["properties"]["name"] == "东街道"
        assert {"self", "alternate", "collection"} <= set(rels(feature))

    @pytest.mark.parametrize(
        "query",
        [
            "bbox=1,2,3",
            "bbox=a,b,c,d",
            "bbox=116.42,39.9,116.38,39.94",
            "bbox=0,95,1,96",
            "bbox=1,2,3,4,5,6",
            "limit=0",
            "limit=10001",
            "limit=ten",
            "offset=-1",
            "datetime=yesterday",
            "datetime=../..",
            "datetime=2026-02-01/2026-01-01",
            "colour=red",
            "f=xml",
            "bbox-crs=EPSG:3857",
        ],
    )
    def test_bad_parameters_400(self, city, query):
        response = city.get(f"{BASE}/collections/units-grid/items?{query}")
        assert response.status_code == 400, query
        assert response.json()["error"]["fields"]

    def test_no_query_for_each_feature(self, city):
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        def queries(limit):
            with CaptureQueriesContext(connection) as captured:
                assert city.get(f"{BASE}/collections/units-grid/items?limit={limit}").json()["numberReturned"] == limit
            return len(captured)

        queries(1)  # the first request looks the caller's scope up and caches it
        assert queries(1) == queries(6) <= 5


@pytest.mark.django_db
class TestIncidents:
    def test_no_personal_data(self, city, report):
        incident = report()
        feature = city.get(f"{BASE}/collections/incidents/items/{incident.number}").json()
        assert set(feature["properties"]) == {
            "number",
            "title",
            "category_code",
            "category_name",
            "status",
            "priority",
            "reported_at",
            "grid_code",
        }
        assert feature["properties"]["grid_code"] == "110101001001001"
        assert feature["properties"]["category_code"] == "E0401"
        assert feature["geometry"] == {"type": "Point", "coordinates": [116.385, 39.905]}
        listed = city.get(f"{BASE}/collections/incidents/items").content.decode()
        for secret in ("13812345678", "张三", "联系人", "reporter"):
            assert secret not in listed

    def test_datetime_instant_and_intervals(self, city, report):
        base = dt.datetime(2026, 3, 1, 8, 0, tzinfo=dt.UTC)
        old = report(at=base)
        new = report(at=base + dt.timedelta(days=10))

        def numbers(value):
            response = city.get(f"{BASE}/collections/incidents/items", {"datetime": value})
            assert response.status_code == 200, response.content
            return sorted(f["id"] for f in response.json()["features"])

        assert numbers("2026-03-01T08:00:00Z") == [old.number]
        assert numbers("2026-03-01") == [old.number]
        assert numbers("2026-03-05T00:00:00Z/..") == [new.number]
        assert numbers("../2026-03-05T00:00:00Z") == [old.number]
        assert numbers("2026-02-01T00:00:00Z/2026-03-11T08:00:00Z") == sorted([old.number, new.number])
        assert numbers("2026-04-01/..") == []

    def test_bbox_on_incidents(self, city, report):
        west = report(WEST_CELL)
        report(EAST_CELL)
        document = city.get(f"{BASE}/collections/incidents/items?bbox=116.38,39.90,116.40,39.92").json()
        assert [f["id"] for f in document["features"]] == [west.number]


@pytest.mark.django_db
class TestScope:
    def test_west_viewer_sees_only_west(self, west, report):
        west_incident = report(WEST_CELL)
        east_incident = report(EAST_CELL)
        streets = west.get(f"{BASE}/collections/units-street/items").json()
        assert [f["id"] for f in streets["features"]] == ["110101001"]
        grids = west.get(f"{BASE}/collections/units-grid/items").json()
        assert {f["id"] for f in grids["features"]} == {
            "110101001001001",
            "110101001001002",
            "110101001002001",
            "110101001002002",
        }
        assert grids["numberMatched"] == 4
        # The city and district lie above the viewer's street: not theirs to see.
        assert west.get(f"{BASE}/collections/units-city/items").json()["numberMatched"] == 0
        incidents = west.get(f"{BASE}/collections/incidents/items").json()
        assert [f["id"] for f in incidents["features"]] == [west_incident.number]
        assert west.get(f"{BASE}/collections/incidents/items/{east_incident.number}").status_code == 404
        assert west.get(f"{BASE}/collections/units-grid/items/110101002001001").status_code == 404
        extent = west.get(f"{BASE}/collections/units-grid").json()["extent"]["spatial"]["bbox"][0]
        assert extent == pytest.approx([116.38, 39.90, 116.40, 39.94])

    def test_a_role_without_cases_does_not_see_the_incidents_collection(self, small_city, client_for):
        client = client_for("viewer", ["110101001"])
        assert "incidents" in [c["id"] for c in client.get(f"{BASE}/collections").json()["collections"]]
        client.user.groups.clear()
        scope_forget(client.user)
        assert client.get(f"{BASE}/collections").json()["collections"] == []
        assert client.get(f"{BASE}/collections/incidents").status_code == 404


@pytest.mark.django_db
class TestTokenParameterAndHtml:
    def test_token_parameter_is_carried_in_links(self, small_city, make_user, api_client):
        _token, key = token_create(user=make_user("city_leader", ["110100"]), name="qgis")
        document = api_client.get(f"{BASE}/collections/units-grid/items", {"token": key, "limit": 2}).json()
        assert document["numberReturned"] == 2
        next_href = rels(document)["next"]["href"]
        assert f"token={key}" in next_href
        assert api_client.get(next_href).json()["numberReturned"] == 2
        assert all(f"token={key}" in link["href"] for link in api_client.get(f"{BASE}/?token={key}").json()["links"])
        assert api_client.get(f"{BASE}/?token=wrong").status_code == 401

    def test_html_by_parameter_and_by_accept(self, city, report):
        incident = report()
        page = city.get(f"{BASE}/collections/units-grid/items?f=html")
        assert page.status_code == 200 and page["Content-Type"].startswith("text/html")
        assert "西南社区第1网格" in page.content.decode()
        browser = city.get(f"{BASE}/collections", HTTP_ACCEPT="text/html,application/xhtml+xml,*/*;q=0.8")
        assert browser["Content-Type"].startswith("text/html") and "units-grid" in browser.content.decode()
        item = city.get(f"{BASE}/collections/incidents/items/{incident.number}", HTTP_ACCEPT="text/html")
        assert item.status_code == 200 and incident.number in item.content.decode()
        assert "13812345678" not in item.content.decode()
        for path in ("/", "/conformance", "/collections/incidents"):
            assert city.get(f"{BASE}{path}?f=html")["Content-Type"].startswith("text/html")
        assert city.get(f"{BASE}/collections", HTTP_ACCEPT="application/json")["Content-Type"].startswith(
            "application/json"
        )


@pytest.mark.django_db
def test_documents_and_errors_speak_both_languages(city):
    chinese = city.get(f"{BASE}/collections/units-grid", HTTP_ACCEPT_LANGUAGE="zh-hans").json()
    english = city.get(f"{BASE}/collections/units-grid", HTTP_ACCEPT_LANGUAGE="en").json()
    assert (chinese["title"], english["title"]) == ("网格单元：网格", "Grid units: grid cells")
    error = city.get(f"{BASE}/collections/units-grid/items?limit=0", HTTP_ACCEPT_LANGUAGE="zh-hans").json()
    assert error["error"]["message"] == "limit 必须在 1 到 10000 之间。"


def _ogrinfo(*args, key: str) -> str:
    result = subprocess.run(
        ["ogrinfo", "-ro", *args, "--config", "GDAL_HTTP_HEADERS", f"Authorization: Token {key}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.django_db(transaction=True)
def test_gdal_reads_the_collections(live_server, small_city, make_user, report):
    west_incident = report(WEST_CELL)
    report(EAST_CELL)
    _token, key = token_create(user=make_user("viewer", ["110101001"]), name="gdal")
    source = f"OAPIF:{live_server.url}/ogcapi"
    listing = _ogrinfo("-so", source, key=key)
    for name in ("units-city", "units-district", "units-street", "units-community", "units-grid", "incidents"):
        assert name in listing
    assert "Feature Count: 4" in _ogrinfo("-so", source, "units-grid", key=key)
    grid = _ogrinfo("-al", "-q", source, "units-grid", key=key)
    assert sorted(re.findall(r"^\s+code \(String\) = (\d+)", grid, re.MULTILINE)) == [
        "110101001001001",
        "110101001001002",
        "110101001002001",
        "110101001002002",
    ]
    # A page size smaller than the layer makes GDAL follow the next links.
    paged = _ogrinfo("-al", "-q", "-oo", "PAGE_SIZE=1", source, "units-grid", key=key)
    assert len(set(re.findall(r"^\s+code \(String\) = (\d+)", paged, re.MULTILINE))) == 4
    incidents = _ogrinfo("-al", "-q", source, "incidents", key=key)
    assert incidents.count("OGRFeature(incidents)") == 1
    assert f"number (String) = {west_incident.number}" in incidents
    assert "POINT (116.385 39.905)" in incidents
    assert "13812345678" not in incidents
    # Without the header, the token as a parameter: GDAL keeps it on every request it makes.
    by_parameter = subprocess.run(
        ["ogrinfo", "-ro", "-al", "-q", "-oo", "PAGE_SIZE=1", f"{source}?token={key}", "units-grid"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert by_parameter.returncode == 0, by_parameter.stderr
    assert by_parameter.stdout.count("OGRFeature(units-grid)") == 4

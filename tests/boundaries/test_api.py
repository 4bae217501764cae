"""The grid API: locate with its edge cases and bad input, units as GeoJSON, OpenAPI, health."""

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from core.coords import wgs84_to_bd09, wgs84_to_gcj02

pytestmark = pytest.mark.django_db


def locate(client, **params):
    return client.get("/api/v1/locate/", params)


def chain(response) -> list[str]:
    return [unit["code"] for unit in response.json()["units"]]


def test_locate_answers_the_chain_from_city_to_grid(city_api, small_city):
    response = locate(city_api, lon="116.385", lat="39.905")
    assert response.status_code == 200
    body = response.json()
    assert chain(response) == ["110100", "110101", "110101001", "110101001001", "110101001001001"]
    assert [u["level"] for u in body["units"]] == ["city", "district", "street", "community", "grid"]
    assert body["units"][-1]["name"] == "西南社区第1网格"
    assert body["lon"] == 116.385 and body["lat"] == 39.905


def test_a_point_in_a_hole_belongs_to_the_cell_filling_it(city_api, small_city):
    response = locate(city_api, lon=116.39, lat=39.93)
    assert chain(response)[-1] == "110101001002002"


def test_a_point_on_an_island_belongs_to_the_islands_cell(city_api, small_city):
    response = locate(city_api, lon=116.402, lat=39.902)
    assert chain(response)[-2:] == ["110101002001", "110101002001002"]
    assert chain(locate(city_api, lon=116.41, lat=39.905))[-1] == "110101002001001"


@pytest.mark.parametrize(
    ("lon", "lat", "cell"),
    [
        (116.39, 39.91, "110101001001001"),  # edge between cells 001 and 002 of one community
        (116.39, 39.92, "110101001001001"),  # vertex shared by four cells of two communities
        (116.40, 39.91, "110101001001002"),  # edge between two streets
        (116.385, 39.925, "110101001002001"),  # corner of the hole
        (116.402, 39.901, "110101002001001"),  # edge of the island
        (116.38, 39.90, "110101001001001"),  # the city's outer corner
    ],
)
def test_a_point_on_a_shared_edge_gets_the_cell_with_the_smallest_code(city_api, small_city, lon, lat, cell):
    response = locate(city_api, lon=lon, lat=lat)
    assert response.status_code == 200
    codes = chain(response)
    assert codes[-1] == cell
    # The chain is the chosen cell's own ancestors, whatever other units the point touches.
    assert codes == ["110100", "110101", cell[:9], cell[:12], cell]


def test_outside_every_unit_is_404_with_a_json_body(city_api, small_city):
    response = locate(city_api, lon=116.5, lat=39.95)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "outside"
    assert "outside every grid unit" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    ("params", "field", "code"),
    [
        ({"lat": "39.9"}, "lon", "required"),
        ({"lon": "116.4"}, "lat", "required"),
        ({"lon": "", "lat": "39.9"}, "lon", "required"),
        ({"lon": "abc", "lat": "39.9"}, "lon", "not_a_number"),
        ({"lon": "116.4", "lat": "NaN"}, "lat", "not_finite"),
        ({"lon": "inf", "lat": "39.9"}, "lon", "not_finite"),
        ({"lon": "1e400", "lat": "39.9"}, "lon", "not_finite"),
        ({"lon": "181", "lat": "39.9"}, "lon", "out_of_range"),
        ({"lon": "116.4", "lat": "-91"}, "lat", "out_of_range"),
        ({"lon": "39.91", "lat": "116.40"}, "lat", "swapped"),
        ({"lon": "116,4", "lat": "39.9"}, "lon", "not_a_number"),
        ({"lon": "116.4", "lat": "39.9", "crs": "utm"}, "crs", "unknown_crs"),
    ],
)
def test_bad_coordinates_are_400_naming_the_field(city_api, small_city, params, field, code):
    response = city_api.get("/api/v1/locate/", params)
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == code
    assert field in error["fields"]
    assert error["message"]


def test_swapped_coordinates_inside_the_valid_range_are_caught_by_the_grid_extent(city_api, small_city):
    # lon=39.91, lat=80 is a valid point in the Arctic; swapped, it is not in the city either, so 404.
    assert locate(city_api, lon=39.91, lat=80).status_code == 404
    # A city at lon/lat both under 90 would need this check; simulate with the extent test directly:
    # lon 39.92, lat 116.39 is out of range already and refused as swapped.
    response = locate(city_api, lon=39.92, lat=116.39)
    assert response.status_code == 400 and response.json()["error"]["code"] == "swapped"


def test_gcj02_and_bd09_input_is_converted(city_api, small_city):
    lon, lat = 116.3955, 39.905  # 430 m west of the street boundary in WGS-84
    gcj = wgs84_to_gcj02(lon, lat)
    bd = wgs84_to_bd09(lon, lat)
    # The offset moves the raw numbers several hundred metres east, across the street boundary.
    assert chain(locate(city_api, lon=gcj[0], lat=gcj[1]))[-1] != "110101001001002"
    for crs, (x, y) in (("gcj02", gcj), ("bd09", bd)):
        response = locate(city_api, lon=x, lat=y, crs=crs)
        assert chain(response)[-1] == "110101001001002", crs
        # BD-09's published inverse is approximate to a few centimetres.
        assert response.json()["lon"] == pytest.approx(lon, abs=1e-7 if crs == "gcj02" else 1e-6)


def test_locate_with_no_boundaries_is_404(client_for, db):
    response = locate(client_for("viewer", units=[]), lon=116.4, lat=39.9)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_units_are_a_paginated_feature_collection(city_api, small_city):
    response = city_api.get("/api/v1/units/", {"level": "grid", "page_size": 4})
    assert response.status_code == 200
    assert response["Content-Type"] == "application/geo+json"
    body = json.loads(response.content)
    assert body["type"] == "FeatureCollection"
    assert body["count"] == 6 and body["previous"] is None and "page=2" in body["next"]
    assert [f["id"] for f in body["features"]] == [
        "110101001001001",
        "110101001001002",
        "110101001002001",
        "110101001002002",
    ]
    feature = body["features"][0]
    assert feature["type"] == "Feature" and feature["geometry"]["type"] == "MultiPolygon"
    assert feature["properties"]["level"] == "grid"
    assert feature["properties"]["parent_code"] == "110101001001"
    assert feature["properties"]["name"] == "西南社区第1网格"
    assert 1.85e6 < feature["properties"]["area_m2"] < 1.95e6
    lon, lat = feature["properties"]["label_point"]
    assert 116.38 < lon < 116.39 and 39.90 < lat < 39.92
    page2 = json.loads(city_api.get(body["next"]).content)
    assert [f["id"] for f in page2["features"]] == ["110101002001001", "110101002001002"]
    assert page2["next"] is None and page2["previous"]


def test_unit_filters(city_api, small_city):
    def ids(**params):
        return [f["id"] for f in json.loads(city_api.get("/api/v1/units/", params).content)["features"]]

    assert ids(parent="110101001") == ["110101001001", "110101001002"]
    assert ids(under="110101002") == ["110101002", "110101002001", "110101002001001", "110101002001002"]
    assert len(ids(under="110100")) == len(small_city)
    assert ids(level="street", bbox="116.405,39.905,116.41,39.91") == ["110101002"]
    assert ids(q="西北") == ["110101001002", "110101001002001", "110101001002002"]
    assert ids(q="1101010010010") == ["110101001001001", "110101001001002"]
    assert ids(level="city") == ["110100"]


def test_the_units_list_is_one_count_and_one_page_query(city_api, small_city):
    city_api.get("/api/v1/units/")  # the caller's scope is cached from here on
    with CaptureQueriesContext(connection) as queries:
        city_api.get("/api/v1/units/", {"page_size": 1000})
    # The token (two lookups), the active generation, the count, and the page of features built by PostGIS.
    assert len(queries) <= 5
    assert sum("json_build_object" in q["sql"] for q in queries.captured_queries) == 1


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"level": "province"}, "level"),
        ({"bbox": "1,2,3"}, "bbox"),
        ({"bbox": "116.5,39.9,116.4,39.95"}, "bbox"),
        ({"bbox": "a,b,c,d"}, "bbox"),
        ({"parent": "11x"}, "parent"),
        ({"page_size": "1001"}, "page_size"),
        ({"page_size": "0"}, "page_size"),
        ({"generation": "x"}, "generation"),
    ],
)
def test_unit_list_bad_parameters_are_400(city_api, small_city, params, field):
    response = city_api.get("/api/v1/units/", params)
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]


def test_a_page_past_the_end_is_404(city_api, small_city):
    response = city_api.get("/api/v1/units/", {"page": 99})
    assert response.status_code == 404
    assert response.json()["error"]["fields"] == {"page": ["Invalid page."]}


def test_unit_detail_carries_parent_and_children(city_api, small_city):
    response = city_api.get("/api/v1/units/110101001/")
    assert response.status_code == 200
    feature = json.loads(response.content)
    assert feature["type"] == "Feature" and feature["id"] == "110101001"
    assert feature["properties"]["parent_code"] == "110101"
    assert feature["properties"]["children"] == ["110101001001", "110101001002"]
    assert feature["properties"]["level"] == "street"
    cell = json.loads(city_api.get("/api/v1/units/110101001001001/").content)
    assert cell["properties"]["children"] == []


def test_unit_children(city_api, small_city):
    response = city_api.get("/api/v1/units/110101002001/children/")
    body = json.loads(response.content)
    assert body["count"] == 2
    assert [f["id"] for f in body["features"]] == ["110101002001001", "110101002001002"]
    assert {f["geometry"]["type"] for f in body["features"]} == {"MultiPolygon"}


def test_unknown_unit_is_404(city_api, small_city):
    for url in ("/api/v1/units/999999/", "/api/v1/units/999999/children/"):
        response = city_api.get(url)
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"


def test_openapi_schema_and_docs(api_client, db):
    schema = api_client.get("/api/schema/", {"format": "json"})
    assert schema.status_code == 200
    paths = json.loads(schema.content)["paths"]
    assert {"/api/v1/locate/", "/api/v1/units/", "/api/v1/units/{code}/", "/api/v1/units/{code}/children/"} <= set(
        paths
    )
    assert "lon" in {p["name"] for p in paths["/api/v1/locate/"]["get"]["parameters"]}
    assert api_client.get("/api/docs/").status_code == 200


def test_healthz(client, db):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["database"] == "ok"


def test_healthz_reports_an_unreachable_database(client, db, monkeypatch):
    from django.db.utils import OperationalError

    def broken(*args, **kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr("core.views.connection.cursor", broken)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["database"] == "unreachable"


def test_unknown_urls_answer_json(client, db):
    response = client.get("/api/v1/nothing-here/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_locate_needs_a_signed_in_caller(api_client, small_city):
    assert locate(api_client, lon=116.385, lat=39.905).status_code == 401


def test_locate_answers_the_whole_chain_but_marks_what_the_caller_may_open(client_for, small_city):
    leader = client_for("community_leader", units=["110101001001"])
    units = locate(leader, lon=116.385, lat=39.905).json()["units"]
    assert [u["in_scope"] for u in units] == [False, False, False, True, True]
    assert leader.get("/api/v1/units/110101001/").status_code == 404
    assert leader.get("/api/v1/units/110101001001001/").status_code == 200

"""The layer registry's API: the list with legends, classification on known data, exports of a unit."""

import datetime as dt
import json
import re

import pytest

from assessment.models import KpiValue
from layers import classify

pytestmark = pytest.mark.django_db

CELLS = [
    "110101001001001",
    "110101001001002",
    "110101001002001",
    "110101001002002",
    "110101002001001",
    "110101002001002",
]


@pytest.fixture
def kpis(small_city):
    """Residents per km² of the six cells for October 2026: 1, 2, 3, 10, 20, 30."""
    for code, value in zip(CELLS, [1, 2, 3, 10, 20, 30], strict=True):
        KpiValue.objects.create(
            period_kind="month",
            period_start=dt.date(2026, 10, 1),
            subject_kind="unit",
            subject=code,
            level=5,
            unit_code=code,
            name=small_city[code].name,
            parent=code[:12],
            values={"residents_per_km2": value, "tag_elderly_alone": value % 3},
        )


def test_the_list_names_each_layer_the_caller_may_see_with_urls_and_legends(client_for, small_city):
    body = client_for("viewer", ["110101001"]).get("/api/v1/layers/").json()
    layers = {layer["name"]: layer for layer in body["results"]}
    assert set(layers) == {"units", "households", "incidents", "incident_heat", "incident_hexagons", "choropleth"}
    units = layers["units"]
    assert units["tiles"].endswith("/tiles/units/{z}/{x}/{y}.mvt")
    assert units["tilejson"].endswith("/tiles/units.json")
    assert {p["name"] for p in units["params"]} == {"level", "generation"}
    assert units["legend"]["classes"][0]["color"].startswith("#")
    assert layers["choropleth"]["classified"] is True
    assert "maplibre_color" in layers["choropleth"]["legend"]
    department = client_for("department_staff", ["110101"]).get("/api/v1/layers/").json()
    assert "choropleth" not in {layer["name"] for layer in department["results"]}


def test_known_values_are_classed_by_each_method():
    values = [1, 2, 3, 10, 20, 30]
    assert classify.breaks(values, "equal_interval", 3) == pytest.approx([10.6667, 20.3333, 30], rel=1e-4)
    # Fisher-Jenks: {1, 2, 3, 10} and {20, 30} leave the least squared deviation (100, against 202 for
    # {1, 2, 3} and {10, 20, 30}).
    assert classify.breaks(values, "natural_breaks", 2) == [10, 30]
    assert classify.breaks(values, "quantiles", 2) == [6.5, 30]
    assert classify.breaks([5, 5, 5], "quantiles", 5) == [5]
    assert classify.breaks([], "quantiles", 5) == []
    legend = classify.legend(values, method="natural_breaks", k=2, palette="Blues", title="t")
    assert [(c["min"], c["max"], c["count"]) for c in legend["classes"]] == [(1, 10, 4), (10, 30, 2)]
    assert legend["classes"][0]["color"] != legend["classes"][1]["color"]
    assert [classify.class_of(v, legend["breaks"]) for v in values] == [0, 0, 0, 0, 1, 1]


def test_the_choropleth_legend_classes_the_units_in_scope(city_api, client_for, kpis):
    body = city_api.get(
        "/api/v1/layers/choropleth/legend/",
        {"period": "month:2026-10", "level": "grid", "classification": "natural_breaks", "classes": 2},
    ).json()
    assert body["breaks"] == [10, 30]
    assert [c["count"] for c in body["classes"]] == [4, 2]
    assert body["palette"] == "YlOrRd"
    assert body["maplibre_color"][:3] == ["case", ["!", ["has", "value"]], classify.NO_DATA_COLOR]
    west = client_for("viewer", ["110101001"]).get(
        "/api/v1/layers/choropleth/legend/",
        {"period": "month:2026-10", "level": "grid", "classification": "equal_interval", "classes": 3},
    )
    assert west.json()["features"] == 4
    assert west.json()["breaks"] == pytest.approx([4, 7, 10], rel=1e-4)  # 1..10: the west's four cells
    bad = city_api.get("/api/v1/layers/choropleth/legend/", {"metric": "happiness"})
    assert bad.status_code == 400
    assert "metric" in bad.json()["error"]["fields"]
    assert city_api.get("/api/v1/layers/choropleth/legend/", {"classes": 12}).status_code == 400


def test_the_choropleth_tile_carries_each_units_value(city_api, kpis, fetch):
    params = {"period": "month:2026-10", "level": "grid", "metric": "tag_elderly_alone"}
    features = fetch(city_api, "choropleth", 13, **params)["choropleth"]
    values = {f["properties"]["code"]: f["properties"].get("value") for f in features}
    assert values == dict(zip(CELLS, [1, 2, 0, 1, 2, 0], strict=True))
    empty = fetch(city_api, "choropleth", 13, period="month:2025-01", level="grid")["choropleth"]
    assert {f["properties"]["code"] for f in empty} == set(CELLS)
    assert all("value" not in f["properties"] for f in empty)


def test_the_hexagon_legend_classes_incident_counts(city_api, report):
    for _ in range(3):
        report()
    body = city_api.get("/api/v1/layers/incident_hexagons/legend/", {"z": 16}).json()
    assert body["property"] == "count"
    assert body["breaks"] == [3]
    assert body["classes"][0]["count"] == 1


def test_a_unit_exports_as_geojson_with_only_its_subtree(city_api, client_for, small_city):
    response = city_api.get("/api/v1/layers/units/export.geojson", {"unit": "110101001", "level": "grid"})
    assert response.status_code == 200
    assert response["Content-Type"] == "application/geo+json"
    body = json.loads(response.content)
    assert {f["properties"]["code"] for f in body["features"]} == set(CELLS[:4])
    cell = next(f for f in body["features"] if f["properties"]["code"] == "110101001001001")
    assert cell["geometry"]["type"] == "MultiPolygon"
    xs = [p[0] for p in cell["geometry"]["coordinates"][0][0]]
    assert min(xs) == pytest.approx(116.38) and max(xs) == pytest.approx(116.39)
    east = client_for("viewer", ["110101002"])
    assert east.get("/api/v1/layers/units/export.geojson", {"unit": "110101001"}).status_code == 404
    assert city_api.get("/api/v1/layers/units/export.geojson").status_code == 400


def test_an_export_without_features_is_an_empty_collection_and_names_in_chinese_stay_readable(city_api, small_city):
    # No incident was reported: the collection is valid and empty.
    response = city_api.get("/api/v1/layers/incidents/export.geojson", {"unit": "110101001"})
    assert response.status_code == 200
    assert json.loads(response.content) == {"type": "FeatureCollection", "name": "incidents 110101001", "features": []}
    # The features are joined in the database and sent as its UTF-8 bytes: names arrive as written.
    body = city_api.get("/api/v1/layers/units/export.geojson", {"unit": "110101001"}).content
    names = {f["properties"]["name"] for f in json.loads(body)["features"]}
    assert names and all(name.isprintable() for name in names)
    assert any(ord(character) > 0x4E00 for name in names for character in name)


def test_too_many_features_for_an_export_is_a_clear_error(city_api, small_city, settings):
    settings.GEOGRID_LAYER_EXPORT_LIMIT = 3
    response = city_api.get("/api/v1/layers/units/export.geojson", {"unit": "110101", "level": "grid"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "too_many_features"


def test_a_unit_exports_as_an_html_map_that_opens_offline(city_api, kpis):
    response = city_api.get(
        "/api/v1/layers/choropleth/export.html",
        {"unit": "110101001", "level": "grid", "period": "month:2026-10", "classification": "natural_breaks"},
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert "110101001001001" in page and "110101002001001" not in page
    assert "L.map" in page  # Leaflet is inlined
    assert not re.search(r"<(script|link)[^>]+(src|href)=\"https?://", page)
    legend = city_api.get(
        "/api/v1/layers/choropleth/legend/",
        {"level": "grid", "period": "month:2026-10", "classification": "natural_breaks", "z": 16},
    ).json()
    for item in legend["classes"]:
        assert item["color"] in page


def test_an_html_export_of_points(city_api, population):
    response = city_api.get("/api/v1/layers/households/export.html", {"unit": "110101001"})
    assert response.status_code == 200
    assert response["Content-Disposition"].endswith('households-110101001.html"')
    assert response.content.decode().count('"housing_type"') >= 2

"""Vector tiles: decoded with mapbox-vector-tile and read by GDAL, scoped, cached and invalidated."""

import datetime as dt
import math
import shutil
import subprocess

import h3
import pytest
from django.contrib.gis.geos import Point
from django.db import connection
from django.test.utils import CaptureQueriesContext

from core.scope import Scope
from incidents.models import Incident
from layers.hexagons import hexagons_sync
from residents.services import household_create
from tests.conftest import X0, XM, Y0, client_of
from tests.tiles.conftest import covering, decode, tile_of, tile_position

pytestmark = pytest.mark.django_db

WEST_CELLS = {"110101001001001", "110101001001002", "110101001002001", "110101001002002"}
EAST_CELLS = {"110101002001001", "110101002001002"}


def codes(features) -> set[str]:
    return {f["properties"]["code"] for f in features}


def test_a_units_tile_holds_each_cell_with_its_fields_and_its_corners_where_they_belong(city_api, small_city):
    z = 14
    x, y = tile_of(116.385, 39.905, z)
    response = city_api.get(f"/tiles/units/{z}/{x}/{y}.mvt")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/vnd.mapbox-vector-tile"
    layers = decode(response.content)
    assert set(layers) == {"units", "unit_labels"}
    units = {f["properties"]["code"]: f for f in layers["units"]["features"]}
    cell = units["110101001001001"]
    assert cell["properties"] == {
        "code": "110101001001001",
        "level": 5,
        "parent_code": "110101001001",
        "name": "西南社区第1网格",
    }
    # The cell is the box (116.38, 39.90)-(116.39, 39.92): its south-west corner lies at its
    # position on this tile, to a unit of the tile's grid.
    ring = cell["geometry"]["coordinates"][0] if cell["geometry"]["type"] == "Polygon" else None
    assert ring is not None
    expected = tile_position(X0, Y0, z, x, y)
    assert any(abs(px - expected[0]) <= 1 and abs(py - expected[1]) <= 1 for px, py in ring), (expected, ring)
    assert {f["properties"]["code"] for f in layers["unit_labels"]["features"]} <= set(units)


def test_the_level_follows_the_zoom_unless_asked(city_api, small_city, fetch):
    assert codes(fetch(city_api, "units", 9)["units"]) == {"110101"}
    assert codes(fetch(city_api, "units", 11)["units"]) == {"110101001", "110101002"}
    assert codes(fetch(city_api, "units", 11, level="grid")["units"]) == WEST_CELLS | EAST_CELLS
    response = city_api.get("/tiles/units/11/0/0.mvt", {"level": "block"})
    assert response.status_code == 400
    assert "level" in response.json()["error"]["fields"]


def test_a_tile_carries_only_the_viewers_units(client_for, small_city, fetch):
    west = client_for("viewer", ["110101001"])
    assert codes(fetch(west, "units", 13, level="grid")["units"]) == WEST_CELLS
    east_grid = client_for("viewer", ["110101002001002"])
    assert codes(fetch(east_grid, "units", 13, level="grid")["units"]) == {"110101002001002"}
    nobody = client_for("viewer", [])
    assert fetch(nobody, "units", 13, level="grid") == {}


def test_anonymous_callers_and_roles_without_the_data_are_refused(api_client, client_for, small_city):
    assert api_client.get("/tiles/units/12/0/0.mvt").status_code == 401
    department = client_for("department_staff", ["110101"])
    response = department.get("/tiles/choropleth/12/0/0.mvt")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
    assert department.get("/tiles/units/12/0/0.mvt").status_code in (200, 204)


def test_empty_tiles_answer_204_and_bad_tiles_404(city_api, small_city):
    assert city_api.get("/tiles/units/14/0/0.mvt").status_code == 204  # the middle of the Pacific
    assert city_api.get("/tiles/units/3/6/3.mvt").status_code == 204  # below the layer's min zoom
    assert city_api.get("/tiles/units/3/8/3.mvt").status_code == 404  # x beyond the zoom's 8 columns
    assert city_api.get("/tiles/rivers/12/0/0.mvt").status_code == 404


def test_an_uncached_tile_costs_one_query_and_a_cached_one_none(city_api, small_city):
    x, y = tile_of(116.385, 39.905, 14)
    city_api.get(f"/tiles/units/14/{x + 1}/{y}.mvt")  # the token and scope are looked up once, then cached
    with CaptureQueriesContext(connection) as queries:
        first = city_api.get(f"/tiles/units/14/{x}/{y}.mvt")
    assert first.status_code == 200
    assert len(queries) == 1, [q["sql"][:200] for q in queries]
    with CaptureQueriesContext(connection) as queries:
        again = city_api.get(f"/tiles/units/14/{x}/{y}.mvt")
    assert len(queries) == 0
    assert again.content == first.content
    assert first["ETag"] and "max-age" in first["Cache-Control"]
    not_modified = city_api.get(f"/tiles/units/14/{x}/{y}.mvt", HTTP_IF_NONE_MATCH=first["ETag"])
    assert not_modified.status_code == 304


def test_a_tile_request_reads_the_token_scope_generation_and_versions_in_one_cache_round_trip(
    city_api, small_city, monkeypatch
):
    from django.core.cache import cache

    x, y = tile_of(116.385, 39.905, 14)
    city_api.get(f"/tiles/choropleth/14/{x + 1}/{y}.mvt")  # the token and scope are looked up and cached
    calls, inside = [], []
    for name in ("get", "get_many", "set", "delete"):
        original = getattr(cache, name)

        def counted(*args, _name=name, _original=original, **kwargs):
            if not inside:  # a local cache answers get_many with its own gets: one round trip all the same
                calls.append((_name, args[0]))
            inside.append(_name)
            try:
                return _original(*args, **kwargs)
            finally:
                inside.pop()

        monkeypatch.setattr(cache, name, counted)
    response = city_api.get(f"/tiles/choropleth/14/{x}/{y}.mvt")
    assert response.status_code in (200, 204)
    # The versions of the choropleth's sources come in one round trip with the token and the scope
    # generation; then the scope, then the tile (a miss), then the tile is kept.
    assert [name for name, _ in calls] == ["get_many", "get", "get", "set"], calls
    read_ahead = set(calls[0][1])
    sources = {f"geogrid:tiles:version:{source}" for source in ("boundaries", "kpi")}
    assert sources | {"geogrid:scope-generation"} < read_ahead
    assert any(key.startswith("geogrid:token:") for key in read_ahead - sources)
    assert calls[1][1].startswith("geogrid:scope:") and calls[2][1].startswith("geogrid:tile:")


@pytest.mark.parametrize("layer", ["households", "incidents", "incident_heat", "incident_hexagons", "choropleth"])
def test_every_layer_builds_its_tile_in_one_query(city_api, small_city, population, report, layer):
    report()
    x, y = tile_of(116.385, 39.905, 15)
    city_api.get(f"/tiles/units/15/{x}/{y}.mvt")
    with CaptureQueriesContext(connection) as queries:
        response = city_api.get(f"/tiles/{layer}/15/{x}/{y}.mvt")
    assert response.status_code in (200, 204)
    assert len(queries) == 1, [q["sql"][:200] for q in queries]


def test_households_are_points_with_no_personal_data_and_clusters_below_zoom_15(city_api, population, fetch):
    points = fetch(city_api, "households", 15)["households"]
    assert len(points) == 3
    assert set(points[0]["properties"]) == {"id", "size", "housing_type", "grid_code"}
    owned = next(f for f in points if f["properties"]["housing_type"] == "owned")
    assert owned["properties"]["size"] == 3
    assert owned["properties"]["grid_code"] == "110101001001001"
    clusters = fetch(city_api, "households", 12)
    assert set(clusters) == {"household_clusters"}
    assert sum(f["properties"]["count"] for f in clusters["household_clusters"]) == 3
    assert sum(f["properties"]["members"] for f in clusters["household_clusters"]) == 5
    tagged = fetch(city_api, "households", 15, tag="rented_out")["households"]
    assert [f["properties"]["housing_type"] for f in tagged] == ["owned"]


def test_households_of_the_other_street_never_reach_the_tile(client_for, population, fetch):
    west = client_for("viewer", ["110101001"])
    points = fetch(west, "households", 15)["households"]
    assert {f["properties"]["grid_code"][:9] for f in points} == {"110101001"}
    assert len(points) == 2
    assert sum(f["properties"]["count"] for f in fetch(west, "households", 10)["household_clusters"]) == 2


def test_a_new_household_shows_on_the_next_tile(city_api, population):
    z = 16
    x, y = tile_of(116.385, 39.905, z)
    url = f"/tiles/households/{z}/{x}/{y}.mvt"
    before = decode(city_api.get(url).content)["households"]["features"]
    household_create(scope=Scope.everything(), location=Point(116.3851, 39.9051, srid=4326), address="西南路1号院2号楼")
    after = decode(city_api.get(url).content)["households"]["features"]
    assert len(after) == len(before) + 1


def test_incidents_carry_category_status_and_age_and_filter(city_api, report, fetch):
    old = report(at=dt.datetime.now(dt.UTC) - dt.timedelta(days=45))
    fresh = report(category="E0102")
    east = report(by="east_dispatcher", point=Point(116.41, 39.905, srid=4326))
    features = fetch(city_api, "incidents", 15)["incidents"]
    by_id = {f["properties"]["id"]: f["properties"] for f in features}
    assert set(by_id) == {fresh.pk, east.pk}  # the default window is the last 30 days
    props = by_id[fresh.pk]
    assert props["category_code"] == "E0102"
    assert props["status"] == fresh.status
    assert props["number"] == fresh.number
    assert props["age_hours"] == 0
    assert props["overdue"] is False
    window = fetch(city_api, "incidents", 15, since=str(dt.date.today() - dt.timedelta(days=60)))["incidents"]
    assert {f["properties"]["id"] for f in window} == {old.pk, fresh.pk, east.pk}
    category = fetch(city_api, "incidents", 15, category="E01")["incidents"]
    assert {f["properties"]["id"] for f in category} == {fresh.pk}
    closed = fetch(city_api, "incidents", 15, status="closed")
    assert closed == {}
    bad = city_api.get("/tiles/incidents/15/0/0.mvt", {"status": "lost"})
    assert bad.status_code == 400
    backwards = city_api.get("/tiles/incidents/15/0/0.mvt", {"since": "2026-10-02", "until": "2026-10-01"})
    assert backwards.status_code == 400


def test_department_staff_see_only_their_departments_incidents_in_tiles(staff, report, fetch):
    ours = report(category="E0402")  # street stalls: urban management
    report(category="E0401")  # street vendors: market supervision
    department = client_of(staff["department"])
    ids = {f["properties"]["id"] for f in fetch(department, "incidents", 15).get("incidents", [])}
    assert ids == {ours.pk}


def test_incident_clusters_and_heat_count_every_incident_once(city_api, report, fetch):
    for _ in range(3):
        report()
    report(by="east_dispatcher", point=Point(116.41, 39.905, srid=4326))
    for z in (10, 12):
        clusters = fetch(city_api, "incidents", z)["incident_clusters"]
        assert sum(f["properties"]["count"] for f in clusters) == 4
    for z in (11, 14, 17):
        heat = fetch(city_api, "incident_heat", z)["incident_heat"]
        assert sum(f["properties"]["count"] for f in heat) == 4


def test_hexagons_count_incidents_per_h3_cell_at_the_zooms_resolution(city_api, report, fetch):
    point = Point(116.385, 39.905, srid=4326)
    report(point=point)
    report(point=point)
    report(point=Point(116.395, 39.935, srid=4326), by="dispatcher")
    for z, resolution in ((11, 7), (12, 8), (14, 9), (16, 10)):
        features = fetch(city_api, "incident_hexagons", z)["incident_hexagons"]
        # A hexagon across a tile's edge is drawn in both tiles, with the same count.
        counts = {f["properties"]["h3"]: f["properties"]["count"] for f in features}
        assert {f["properties"]["resolution"] for f in features} == {resolution}
        expected: dict[str, int] = {}
        for lon, lat, n in ((116.385, 39.905, 2), (116.395, 39.935, 1)):
            cell = h3.latlng_to_cell(lat, lon, resolution)
            expected[cell] = expected.get(cell, 0) + n
        assert counts == expected


def test_incidents_written_in_bulk_get_their_hexagons_from_the_sync(city_api, report, fetch):
    incident = report()
    Incident.objects.filter(pk=incident.pk).update(h3=None)
    connection.cursor().execute("DELETE FROM layers_hexagon")
    assert hexagons_sync() == {"incidents": 1, "hexagons": 4}
    assert Incident.objects.get(pk=incident.pk).h3 == h3.str_to_int(h3.latlng_to_cell(39.905, 116.385, 10))
    assert hexagons_sync() == {"incidents": 0, "hexagons": 0}


def test_a_changed_incident_invalidates_its_tiles(city_api, report):
    incident = report()
    x, y = tile_of(116.385, 39.905, 15)
    url = f"/tiles/incidents/15/{x}/{y}.mvt"
    first = decode(city_api.get(url).content)["incidents"]["features"]
    assert first[0]["properties"]["priority"] == incident.priority
    incident.priority = "urgent"
    incident.save(update_fields=["priority"])
    second = decode(city_api.get(url).content)["incidents"]["features"]
    assert second[0]["properties"]["priority"] == "urgent"


def test_tilejson_describes_the_layer_and_the_viewers_extent(client_for, small_city):
    west = client_for("viewer", ["110101001"])
    body = west.get("/tiles/units.json", {"level": "grid"}).json()
    assert body["tilejson"] == "3.0.0"
    assert "/tiles/units/{z}/{x}/{y}.mvt?level=grid&s=" in body["tiles"][0]  # s: the viewer's scope
    assert body["minzoom"] == 5 and body["maxzoom"] == 18
    assert body["bounds"] == pytest.approx([X0, Y0, XM, 39.94])
    fields = {layer["id"]: layer["fields"] for layer in body["vector_layers"]}
    assert fields["units"] == {"code": "String", "name": "String", "level": "Number", "parent_code": "String"}


@pytest.mark.skipif(shutil.which("ogrinfo") is None, reason="GDAL's ogrinfo is installed by make")
def test_gdal_reads_a_tile_as_an_outside_client(city_api, small_city, tmp_path):
    z = 14
    x, y = tile_of(116.385, 39.905, z)
    path = tmp_path / str(z) / str(x) / f"{y}.pbf"
    path.parent.mkdir(parents=True)
    path.write_bytes(city_api.get(f"/tiles/units/{z}/{x}/{y}.mvt").content)
    result = subprocess.run(
        ["ogrinfo", "-ro", "-al", "-geom=SUMMARY", str(path)], capture_output=True, text=True, check=True
    )
    assert "Layer name: units" in result.stdout
    assert "code (String) = 110101001001001" in result.stdout
    # GDAL places the features back in WGS-84 / Web Mercator: the cell's extent is where it belongs.
    extents = subprocess.run(
        ["ogrinfo", "-ro", "-so", "-oo", "CLIP=NO", str(path), "units"], capture_output=True, text=True, check=True
    ).stdout
    assert "Extent:" in extents and "Feature Count:" in extents


def test_every_tile_of_the_city_is_well_formed(city_api, population, report):
    report()
    for layer in ("units", "households", "incidents", "incident_heat", "incident_hexagons", "choropleth"):
        for z in (10, 13, 16):
            for x, y in covering(z):
                response = city_api.get(f"/tiles/{layer}/{z}/{x}/{y}.mvt")
                assert response.status_code in (200, 204), (layer, z)
                if response.status_code == 200:
                    assert decode(response.content)


@pytest.mark.parametrize(
    "layer", ["units", "households", "incidents", "incident_heat", "incident_hexagons", "choropleth"]
)
def test_a_tile_statement_built_once_per_zoom_serves_every_tile_of_it(small_city, layer):
    from layers.registry import _UNTEMPLATED, LAYERS

    params = {"period": "year:2026", "metric": "incidents_reported"} if layer == "choropleth" else {}
    built = LAYERS[layer](Scope.everything(), LAYERS[layer].parse_params(params))
    for z in (8, 12, 13, 14, 15, 16):  # clusters and points, labels or none
        assert built._tile_template(z) is not _UNTEMPLATED, (layer, z)
        for x, y in [tile_of(116.385, 39.905, z), tile_of(116.41, 39.93, z), (0, 0), (2**z - 1, 2**z - 1)]:
            # The statement filled in for this tile is the one built for it from scratch, values and all.
            assert built.tile_sql(z, x, y) == built._tile_sql(z, x, y), (layer, z, x, y)


def test_a_layer_whose_statement_holds_a_tiles_coordinates_in_its_text_is_built_for_every_tile(small_city):
    from layers.registry import _UNTEMPLATED, Layer, Part

    class Written(Layer):
        name = "written"

        def parts(self, window):
            x, y = window.tile
            return [Part("p", ["n"], 10, sql=f"SELECT {x * 2 + y} AS n, ST_MakePoint(0, 0) AS tile_geom")]

    layer = Written(Scope.everything(), {})
    assert layer._tile_template(12) is _UNTEMPLATED
    assert "SELECT 7 AS n" in layer.tile_sql(12, 3, 1)[0] and "SELECT 9 AS n" in layer.tile_sql(12, 4, 1)[0]


@pytest.mark.parametrize("z, x, y", [(14, 13489, 6208), (0, 0, 0), (3, 0, 7), (3, 7, 0), (16, 53958, 24834)])
def test_the_tile_bounds_postgis_computes_are_the_tile_with_its_buffer(db, z, x, y):
    from tiles.functions import BUFFER, EXTENT, tile_bounds_sql

    n, buffer = 2.0**z, BUFFER / EXTENT

    def lat(ty: float) -> float:
        return math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * ty / n))))

    # The buffered tile in degrees, clipped to the Mercator square (±85.0511°).
    expected = (
        max((x - buffer) / n * 360 - 180, -180),
        lat(min(y + 1 + buffer, n)),
        min((x + 1 + buffer) / n * 360 - 180, 180),
        lat(max(y - buffer, 0)),
    )
    for metres, grown in ((0, 0), (500, 1)):
        sql, params = tile_bounds_sql(z, x, y, metres=metres)
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT ST_XMin(b), ST_YMin(b), ST_XMax(b), ST_YMax(b) FROM (SELECT {sql} AS b) t", params)
            west, south, east, north = cursor.fetchone()
        if not grown:
            assert (west, south, east, north) == pytest.approx(expected, abs=1e-9)
        elif z == 14:  # 500 m more on every side: about 0.0045° of latitude, 0.0059° of longitude at 39.9° N
            assert expected[1] - south == pytest.approx(0.0045, abs=0.0003)
            assert west == pytest.approx(expected[0] - 0.00585, abs=0.0003)

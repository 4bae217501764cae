"""Bulk assignment of points to grid cells agrees with locate, including the boundary rule."""

import numpy as np
import pytest
import shapely
from django.db import connection

from boundaries.models import GridUnit, Level
from boundaries.services import cells_for_points, points_assign_cells, points_assign_units

pytestmark = pytest.mark.django_db


def test_points_get_the_same_cell_as_locate(city_api, small_city):
    rng = np.random.default_rng(5)
    lon = np.concatenate([rng.uniform(116.375, 116.425, 150), [116.39, 116.39, 116.40, 116.385, 116.402, 116.5]])
    lat = np.concatenate([rng.uniform(39.895, 39.945, 150), [39.91, 39.92, 39.91, 39.925, 39.901, 39.95]])
    codes = cells_for_points(lon=lon, lat=lat)
    for x, y, code in zip(lon, lat, codes, strict=True):
        response = city_api.get("/api/v1/locate/", {"lon": repr(float(x)), "lat": repr(float(y))})
        expected = response.json()["units"][-1]["code"] if response.status_code == 200 else None
        assert code == expected, (x, y)


def test_assignment_matches_an_independent_shapely_computation(small_city):
    cells = GridUnit.objects.filter(level=Level.GRID).order_by("code")
    polygons = [shapely.from_wkb(bytes(cell.geom.wkb)) for cell in cells]
    rng = np.random.default_rng(9)
    lon, lat = rng.uniform(116.37, 116.43, 2000), rng.uniform(39.89, 39.95, 2000)
    expected = []
    for x, y in zip(lon, lat, strict=True):
        point = shapely.Point(x, y)
        expected.append(
            next((cell.code for cell, poly in zip(cells, polygons, strict=True) if poly.covers(point)), None)
        )
    assert list(cells_for_points(lon=lon, lat=lat)) == expected
    assert sum(code is None for code in expected) > 100  # some points fall outside the city


def test_assigning_a_table_of_points(small_city):
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE visit_points (visit_id int, location geometry(Point, 4326))")
        cursor.execute(
            "INSERT INTO visit_points VALUES (1, 'SRID=4326;POINT(116.385 39.905)'), "
            "(2, 'SRID=4326;POINT(116.39 39.93)'), (3, 'SRID=4326;POINT(117 40)'), "
            "(4, 'SRID=4326;POINT(116.40 39.91)')"
        )
    pairs = points_assign_cells(table="visit_points", id_column="visit_id", geom_column="location")
    assert sorted(pairs) == [(1, "110101001001001"), (2, "110101001002002"), (4, "110101001001002")]
    only_east = points_assign_cells(
        table="visit_points", id_column="visit_id", geom_column="location", under="110101002"
    )
    # On the street boundary, the west cell wins city-wide; limited to the east street, the east one does.
    assert sorted(only_east) == [(4, "110101002001001")]


def test_no_points_and_no_boundaries(db):
    assert list(cells_for_points(lon=np.array([]), lat=np.array([]))) == []
    assert list(cells_for_points(lon=np.array([116.4]), lat=np.array([39.9]))) == [None]


@pytest.mark.parametrize("by_cell_from", [5000, 1], ids=["planner's join", "cell by cell"])
def test_assigning_units_in_the_database(small_city, monkeypatch, by_cell_from):
    from boundaries import sql

    # Many points are joined cell by cell through their index; a few however the planner likes. Same answers.
    monkeypatch.setattr(sql, "ASSIGN_BY_CELL_FROM", by_cell_from)
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMP TABLE dwellings (id int, location geometry(Point, 4326), grid text, unit text, batch int)"
        )
        cursor.execute("CREATE INDEX dwellings_location ON dwellings USING gist (location)")
        cursor.execute(
            "INSERT INTO dwellings VALUES "
            "(1, 'SRID=4326;POINT(116.385 39.905)', 'stale', 'stale', 1), "  # in a cell
            "(2, 'SRID=4326;POINT(116.4300 39.905)', 'stale', 'stale', 1), "  # east of the city
            "(3, 'SRID=4326;POINT(116.3700 39.935)', 'stale', 'stale', 1), "  # west of the city
            "(4, 'SRID=4326;POINT(116.39 39.93)', 'old', 'old', 2)"  # another batch: untouched
        )
    counts = points_assign_units(
        table="dwellings",
        geom_column="location",
        grid_column="grid",
        unit_column="unit",
        where="p.batch = 1",
        drop_indexes=by_cell_from == 1,
    )
    assert counts == {"in_cell": 1, "in_unit": 2, "outside": 0}
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, grid, unit FROM dwellings ORDER BY id")
        rows = cursor.fetchall()
        cursor.execute("SELECT count(*) FROM pg_indexes WHERE indexname = 'dwellings_location'")
        assert cursor.fetchone()[0] == (0 if by_cell_from == 1 else 1)  # a staging table's index, dropped if asked
    assert rows[0] == (1, "110101001001001", "110101001001001")
    # Outside the city: no cell, and the community of the nearest cell takes responsibility.
    assert rows[1] == (2, "", "110101002001")
    assert rows[2] == (3, "", "110101001002")
    assert rows[3] == (4, "old", "old")

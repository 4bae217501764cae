"""Bulk assignment of 1,000,000 random points to the cells of a 10,000-cell city: PostGIS vs shapely STRtree."""

from __future__ import annotations

import numpy as np
import shapely
from django.db import connection, transaction
from psycopg import sql as pgsql

from benchmarks.common import Results, Row, ensure_bench_city, timed
from boundaries.models import GridUnit, Level
from boundaries.selectors import generation_active, valid_at_q
from boundaries.services import _binary_copy_points, cells_for_points, points_assign_cells


def run(results: Results, *, points: int = 1_000_000, n_grids: int = 10_000) -> None:
    ensure_bench_city(n_grids=n_grids)
    generation = generation_active()
    cells = list(
        GridUnit.objects.filter(valid_at_q(generation), level=Level.GRID).order_by("code").values_list("code", "geom")
    )
    codes = np.array([code for code, _geom in cells], dtype=object)
    polygons = shapely.from_wkb([bytes(geom.wkb) for _code, geom in cells])
    min_x, min_y, max_x, max_y = shapely.total_bounds(polygons)
    rng = np.random.default_rng(2024)
    lon = rng.uniform(min_x, max_x, points)
    lat = rng.uniform(min_y, max_y, points)
    print(f"Assigning {points:,} points to {len(cells):,} cells", flush=True)

    def strtree():
        tree = shapely.STRtree(polygons)
        point_index, cell_index = tree.query(shapely.points(lon, lat), predicate="within")
        assigned = np.full(points, None, dtype=object)
        assigned[point_index] = codes[cell_index]
        return assigned

    def postgis_from_arrays():
        return cells_for_points(lon=lon, lat=lat, generation=generation)

    strtree_seconds, by_tree = timed(strtree, repeat=2)
    postgis_seconds, by_postgis = timed(postgis_from_arrays, repeat=2)
    same = bool(np.array_equal(by_tree, by_postgis))
    inside = int(np.count_nonzero(by_postgis != None))  # noqa: E711 (element-wise on an object array)
    results.add(
        Row(
            name=f"assign {points:,} points from arrays to {len(cells):,} cells (COPY + index + join)",
            value=postgis_seconds,
            unit="s",
            reference=strtree_seconds,
            reference_name="shapely STRtree within",
            target="identical (reported)",
            passed=same,
            notes=f"{inside:,} inside the city; identical: {same}; includes a GiST build on the new points",
        )
    )

    # Points already in an indexed table, as households and incidents are: the assignment alone.
    table = f"bench_points_{points}"
    with connection.cursor() as cursor:
        name = pgsql.Identifier(table).as_string(cursor.cursor)
        cursor.execute(f"DROP TABLE IF EXISTS {name}")
        cursor.execute(f"CREATE UNLOGGED TABLE {name} (id integer, geom geometry(Point, 4326))")
        with cursor.cursor.copy(f"COPY {name} (id, geom) FROM STDIN (FORMAT BINARY)") as copy:
            copy.write(_binary_copy_points(lon, lat))
        cursor.execute(f"CREATE INDEX ON {name} USING gist (geom); ANALYZE {name}")
        try:
            table_seconds, pairs = timed(lambda: points_assign_cells(table=table, generation=generation), 2)
            with transaction.atomic():
                cursor.execute("SET LOCAL max_parallel_workers_per_gather = 0")
                forced = (
                    f"SELECT DISTINCT ON (p.id) p.id, cell.code FROM {name} p CROSS JOIN LATERAL ("
                    "SELECT c.code FROM boundaries_gridunit c WHERE c.level = 5 AND c.generation_high_id IS NULL "
                    "AND ST_Intersects(c.geom, p.geom) OFFSET 0) cell ORDER BY p.id, cell.code"
                )
                point_seconds, point_pairs = timed(lambda: (cursor.execute(forced), cursor.fetchall())[1], 1)
        finally:
            cursor.execute(f"DROP TABLE IF EXISTS {name}")
    by_table = np.full(points, None, dtype=object)
    for point_id, code in pairs:
        by_table[point_id] = code
    same_table = bool(np.array_equal(by_tree, by_table)) and sorted(point_pairs) == sorted(pairs)
    results.add(
        Row(
            name=f"assign {points:,} points of an indexed table to {len(cells):,} cells (polygon-driven)",
            value=table_seconds,
            unit="s",
            reference=strtree_seconds,
            reference_name="shapely STRtree within",
            target="<= 1.5x STRtree, identical",
            passed=table_seconds <= 1.5 * strtree_seconds and same_table,
            notes=f"point-driven loop on one core: {point_seconds:.1f} s; identical: {same_table}",
        )
    )

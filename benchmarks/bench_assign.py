"""Bulk assignment of 1,000,000 random points to the cells of a 10,000-cell city: PostGIS vs shapely STRtree."""

from __future__ import annotations

import numpy as np
import shapely
from django.db import connection, transaction

from benchmarks.common import Results, Row, ensure_bench_city, timed
from boundaries.models import GridUnit, Level
from boundaries.selectors import generation_active, valid_at_q
from boundaries.services import cells_for_points, points_assign_cells


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
            target="<= 1.5x STRtree, identical",
            passed=postgis_seconds <= 1.5 * strtree_seconds and same,
            notes=f"{inside:,} inside the city; identical assignment: {same}",
        )
    )

    # Points already in an indexed table, as households and incidents are.
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_points")
        cursor.execute("CREATE TEMP TABLE bench_points (id integer, lon float8, lat float8) ON COMMIT DROP")
        with cursor.cursor.copy("COPY bench_points (id, lon, lat) FROM STDIN") as copy:
            for index in range(0, points, 100_000):
                chunk = np.column_stack(
                    [
                        np.arange(index, min(points, index + 100_000)),
                        lon[index : index + 100_000],
                        lat[index : index + 100_000],
                    ]
                )
                copy.write("".join(f"{int(i)}\t{x!r}\t{y!r}\n" for i, x, y in chunk))
        cursor.execute("ALTER TABLE bench_points ADD COLUMN geom geometry(Point, 4326)")
        cursor.execute("UPDATE bench_points SET geom = ST_SetSRID(ST_MakePoint(lon, lat), 4326)")
        cursor.execute("CREATE INDEX ON bench_points USING gist (geom); ANALYZE bench_points")
        table_seconds, pairs = timed(lambda: points_assign_cells(table="bench_points", generation=generation), 2)
        naive_sql = (
            "SELECT DISTINCT ON (p.id) p.id, c.code FROM bench_points p JOIN boundaries_gridunit c "
            "ON ST_Intersects(c.geom, p.geom) WHERE c.level = 5 AND c.generation_high_id IS NULL "
            "ORDER BY p.id, c.code"
        )
        naive_seconds, naive_pairs = timed(lambda: (cursor.execute(naive_sql), cursor.fetchall())[1], 1)
    by_table = np.full(points, None, dtype=object)
    for point_id, code in pairs:
        by_table[point_id] = code
    same_table = bool(np.array_equal(by_tree, by_table)) and len(naive_pairs) == len(pairs)
    results.add(
        Row(
            name=f"assign {points:,} indexed table points to {len(cells):,} cells (polygon-driven)",
            value=table_seconds,
            unit="s",
            reference=strtree_seconds,
            reference_name="shapely STRtree within",
            target="<= 1.5x STRtree, identical",
            passed=table_seconds <= 1.5 * strtree_seconds and same_table,
            notes=f"planner's plain join: {naive_seconds:.2f} s",
        )
    )

"""Importing 1,000,000 households from CSV against plain COPY and Django bulk_create; `near` with 1M households."""

from __future__ import annotations

import csv
import tempfile
import time
from pathlib import Path

import numpy as np
import shapely
from django.contrib.gis.geos import Point
from django.db import connection, transaction

from benchmarks.common import Results, Row, ensure_bench_city, percentile, timed
from boundaries.models import GridUnit, Level
from boundaries.selectors import generation_active, valid_at_q
from core.scope import Scope
from residents.importing import household_import, import_options
from residents.models import Household
from residents.selectors import household_list

HEADER = ["household_ref", "address", "lon", "lat", "housing_type", "source"]


def _points_in_cells(count: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """Random points inside the grid cells (households live in cells; the few outside are another story)."""
    cells = GridUnit.objects.filter(valid_at_q(generation_active()), level=Level.GRID).values_list("geom", flat=True)
    polygons = shapely.from_wkb([bytes(geom.wkb) for geom in cells])
    tree = shapely.STRtree(polygons)
    min_x, min_y, max_x, max_y = shapely.total_bounds(polygons)
    lon_parts, lat_parts, have = [], [], 0
    while have < count:
        lon = rng.uniform(min_x, max_x, count)
        lat = rng.uniform(min_y, max_y, count)
        inside = np.unique(tree.query(shapely.points(lon, lat), predicate="within")[0])
        lon_parts.append(lon[inside])
        lat_parts.append(lat[inside])
        have += len(inside)
    return np.concatenate(lon_parts)[:count], np.concatenate(lat_parts)[:count]


def _rows(lon: np.ndarray, lat: np.ndarray, rng) -> list[tuple[str, str, str, str, str, str]]:
    """The rows every contestant writes: (household number, address, lon, lat, housing type, source)."""
    housing = np.array(["owned", "rented", "collective"])[rng.integers(0, 3, len(lon))]
    source = np.array(["public_security", "grid_visit", "civil_affairs"])[rng.integers(0, 3, len(lon))]
    return [
        (
            f"B{index:07d}",
            f"测试路{index % 997}号院{index % 37}号楼{index % 601}",
            f"{lon[index]:.7f}",
            f"{lat[index]:.7f}",
            str(housing[index]),
            str(source[index]),
        )
        for index in range(len(lon))
    ]


def _write_csv(path: Path, rows, points: Path | None = None) -> None:
    """The import's CSV; and `points`, the same rows with a point (EWKT) in place of lon and lat."""
    with path.open("w", encoding="utf-8", newline="") as handle, (points or Path("/dev/null")).open("w") as other:
        writer, point_writer = csv.writer(handle), csv.writer(other)
        writer.writerow(HEADER)
        writer.writerows(rows)
        if points:
            point_writer.writerows(
                (ref, address, f"SRID=4326;POINT({x} {y})", housing, source)
                for ref, address, x, y, housing, source in rows
            )


def _clear() -> None:
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE residents_household CASCADE")


def _copy(path: Path, table: str, *, header: bool) -> float:
    """Seconds to COPY a CSV file into a table created for it (`table`: its CREATE TABLE), dropped afterwards."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(table)
        start = time.perf_counter()
        with (
            path.open("rb") as handle,
            cursor.cursor.copy(f"COPY bench_copy FROM STDIN WITH (FORMAT csv, HEADER {str(header).lower()})") as copy,
        ):
            while chunk := handle.read(1 << 20):
                copy.write(chunk)
        seconds = time.perf_counter() - start
        cursor.execute("DROP TABLE bench_copy")
    return seconds


# The CSV as it is, into a table without indexes or WAL; and the same rows as points (the households' point
# column) into a logged table without indexes.
PLAIN_TABLE = (
    "CREATE UNLOGGED TABLE bench_copy (household_ref text, address text, lon float8, lat float8, housing_type text, "
    "source text)"
)
POINTS_TABLE = (
    "CREATE TABLE bench_copy (household_ref text, address text, location geometry(Point, 4326), housing_type text, "
    "source text)"
)


def _bulk_create(rows) -> float:
    """Seconds to write the same rows (the file's first ones for a sample) by Django's bulk_create."""
    households = [
        Household(
            ref=ref,
            address=address,
            location=Point(float(x), float(y), srid=4326),
            housing_type=housing,
            source=source,
        )
        for ref, address, x, y, housing, source in rows
    ]
    start = time.perf_counter()
    with transaction.atomic():
        Household.objects.bulk_create(households, batch_size=5000)
    seconds = time.perf_counter() - start
    _clear()
    return seconds


def run(results: Results, *, households: int = 1_000_000, bulk_sample: int = 100_000, near_queries: int = 200) -> None:
    ensure_bench_city()
    rng = np.random.default_rng(4)
    print(f"Preparing {households:,} household rows", flush=True)
    lon, lat = _points_in_cells(households, rng)
    with tempfile.TemporaryDirectory() as directory:
        path, points = Path(directory) / "households.csv", Path(directory) / "points.csv"
        rows = _rows(lon, lat, rng)
        _write_csv(path, rows, points)
        _clear()
        copy_seconds = _copy(path, PLAIN_TABLE, header=True)
        point_copy_seconds = _copy(points, POINTS_TABLE, header=False)
        options = import_options(commit=True)
        import_seconds, report = timed(
            lambda: household_import(path=path, options=options, scope=Scope.everything()), repeat=1
        )
    if not report.committed:
        raise SystemExit(report.as_text())
    results.add(
        Row(
            name=f"import {households:,} households from CSV (checked, assigned, committed)",
            value=import_seconds,
            unit="s",
            reference=copy_seconds,
            reference_name="plain COPY of the same CSV",
            target="<= 2x plain COPY",
            passed=import_seconds <= 2 * copy_seconds,
            notes=f"{report.counts['assigned']:,} assigned; into the indexed households table"
            + (f", {len(report.indexes_rebuilt)} indexes built at the end" if report.indexes_rebuilt else ""),
        )
    )
    results.add(
        Row(
            name=f"plain COPY of the same {households:,} rows as points into a logged table without indexes",
            value=point_copy_seconds,
            unit="s",
            reference=copy_seconds,
            reference_name="plain COPY of the CSV",
            notes=f"for scale: the import takes {import_seconds / point_copy_seconds:.1f}x this",
        )
    )
    bulk_seconds = _bulk_create(rows[:bulk_sample]) * households / bulk_sample
    results.add(
        Row(
            name=f"the same {households:,} rows by Django bulk_create (from a {bulk_sample:,}-row sample)",
            value=bulk_seconds,
            unit="s",
            reference=import_seconds,
            reference_name="import",
            target=">= 10x the import",
            passed=bulk_seconds >= 10 * import_seconds,
            notes="the file's rows, as the model's fields; bulk_create neither checks nor assigns",
        )
    )

    # `near`: nearest households around random points of the city, 20 a page, within 500 m.
    everything = Scope.everything()
    picks = rng.integers(0, households, near_queries)
    latencies = []
    for index in picks:
        point = Point(float(lon[index]) + 0.0003, float(lat[index]) - 0.0002, srid=4326)
        start = time.perf_counter()
        list(household_list(scope=everything, near=point, radius=500)[:20])
        latencies.append((time.perf_counter() - start) * 1000)
    with connection.cursor() as cursor:
        sql, params = household_list(scope=everything, near=Point(float(lon[0]), float(lat[0]), srid=4326), radius=500)[
            :20
        ].query.sql_with_params()
        cursor.execute("EXPLAIN " + sql, params)
        plan = " ".join(row[0] for row in cursor.fetchall())
    results.add(
        Row(
            name=f"near (500 m, 20 nearest) among {households:,} households, p50",
            value=percentile(latencies, 50),
            unit="ms",
            target="index KNN",
            passed="household_location_geography" in plan,
            notes=f"p95 {percentile(latencies, 95):.1f} ms over {near_queries} queries; "
            f"plan uses the geography index: {'household_location_geography' in plan}",
        )
    )
    _clear()

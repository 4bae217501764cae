"""A 10,000-cell grid from a boundary file: checked against the city, and imported into it, against reading the file."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import geopandas as gpd
from django.db import connection, transaction

from benchmarks.common import Results, Row, ensure_bench_city, timed
from boundaries.models import Level
from boundaries.selectors import generation_active
from boundaries.services import boundary_export, boundary_import

OPTIONS = {"level": Level.GRID, "code_field": "code", "name_field": "name", "parent_field": "parent"}


class _Undo(Exception):
    """Carries a measurement out of a transaction that is then rolled back."""

    def __init__(self, seconds: float, report):
        self.seconds, self.report = seconds, report


def _import_into_a_city_without_its_grid(path: Path) -> tuple[float, object]:
    """The grid deleted and imported again inside one transaction, rolled back: the database ends as it began."""
    try:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("DELETE FROM boundaries_gridunit WHERE level = %s", [int(Level.GRID)])
            start = time.perf_counter()
            report = boundary_import(path=path, commit=True, **OPTIONS)
            raise _Undo(time.perf_counter() - start, report)
    except _Undo as undo:
        return undo.seconds, undo.report


def run(results: Results) -> None:
    ensure_bench_city()
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "grid.gpkg"
        cells = boundary_export(out=path, file_format="gpkg", generation=generation_active(), level=Level.GRID)
        read_seconds, _frame = timed(lambda: gpd.read_file(path, engine="pyogrio"), repeat=3)
        # Every code of the file is taken already: each check still runs on every unit, and nothing is written.
        check_seconds, report = timed(lambda: boundary_import(path=path, **OPTIONS), repeat=3)
        if {p.kind for p in report.errors} != {"code_exists"}:
            raise SystemExit(report.as_text())
        import_seconds, report = _import_into_a_city_without_its_grid(path)
        if not report.committed:
            raise SystemExit(report.as_text())
    results.add(
        Row(
            name=f"check a {cells:,}-cell grid file against the city (dry run: every check, nothing written)",
            value=check_seconds,
            unit="s",
            reference=read_seconds,
            reference_name="reading the GeoPackage with pyogrio",
            notes="best of 3",
        )
    )
    results.add(
        Row(
            name=f"import the same {cells:,} cells into the city without its grid (checks, insert, constraints)",
            value=import_seconds,
            unit="s",
            reference=read_seconds,
            reference_name="reading the GeoPackage with pyogrio",
            notes="in a transaction rolled back afterwards",
        )
    )

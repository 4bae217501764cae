"""Writing grid units: boundary import, export, and the bulk assignment of points to grid cells."""

from __future__ import annotations

import re
import tempfile
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from psycopg import sql as pgsql

from accounts.services import audit_event
from boundaries import sql
from boundaries.imports import (
    WARNING,
    BoundaryFileError,
    BoundaryFileOptions,
    ImportReport,
    StagedFeature,
    read_boundary_file,
)
from boundaries.models import CODE_PATTERNS, BoundaryImportJob, Generation, Level
from boundaries.selectors import ancestor_codes, generation_active, unit_list
from core.files import UnsafeFile, check_size
from core.scope import Scope, subtree_prefix
from tiles.cache import bump

EDIT_BOUNDARIES = "boundaries.edit_boundaries"
_CODE_RES = {level: re.compile(pattern) for level, pattern in CODE_PATTERNS.items()}


class _DryRun(Exception):
    """Raised inside the import transaction to roll it back after the report is complete."""


# An import of at least this many units refreshes the planner's statistics of the grid at once.
ANALYZE_AFTER_UNITS = 500


def generation_create_initial() -> Generation:
    """The first generation, active from the start: the grid imported into it is live at once."""
    return Generation.objects.create(description=_("Initial boundaries"), active=True, activated_at=timezone.now())


def _expected_parent(code: str, level: Level) -> str | None:
    chain = ancestor_codes(code)
    return chain[-1] if chain and level != Level.CITY else None


def _check_rows(features: list[StagedFeature], level: Level, has_parent_field: bool, report: ImportReport) -> None:
    """The checks that need no database: codes, names, parents named in the file."""
    pattern = _CODE_RES[level]
    duplicates = {code for code, n in Counter(f.code for f in features if f.code).items() if n > 1}
    for feature in features:
        row, code = feature.row, feature.code
        if not code:
            report.add("code_missing", _("The feature has no code."), row=row)
        elif not pattern.match(code):
            report.add(
                "code_format",
                _("Code %(code)s does not follow the %(level)s code format (%(pattern)s).")
                % {"code": code, "level": level.label, "pattern": CODE_PATTERNS[level]},
                row=row,
                code=code,
            )
        elif code in duplicates:
            report.add(
                "code_duplicate",
                _("Code %(code)s appears more than once in the file.") % {"code": code},
                row=row,
                code=code,
            )
        if not feature.name:
            report.add("name_missing", _("The feature has no name."), row=row, code=code or None)
        if level == Level.CITY or not code or not pattern.match(code):
            continue
        expected = _expected_parent(code, level)
        if has_parent_field and not feature.parent_code:
            report.add("parent_missing", _("The feature names no parent."), row=row, code=code)
        elif has_parent_field and feature.parent_code != expected:
            report.add(
                "parent_mismatch",
                _(
                    "Code %(code)s does not belong under parent %(parent)s: a %(level)s code extends its "
                    "parent's code (expected parent %(expected)s)."
                )
                % {"code": code, "parent": feature.parent_code, "level": level.label, "expected": expected},
                row=row,
                code=code,
            )


def _copy_staging(cursor, features: list[StagedFeature], level: Level, failed_rows: set[int]) -> None:
    cursor.execute(sql.STAGING_CREATE)
    with cursor.cursor.copy(sql.STAGING_COPY) as copy:
        for feature in features:
            parent = _expected_parent(feature.code, level) if feature.code else None
            ok = feature.ewkb is not None and feature.row not in failed_rows
            copy.write_row((feature.row, feature.code, feature.name, parent, feature.ewkb, ok))
    cursor.execute(sql.STAGING_INDEX)


def _check_geometries(cursor, params: dict, fix_invalid: bool, report: ImportReport) -> None:
    cursor.execute(sql.OFF_THE_GLOBE)
    for row, code, *extent in sorted(cursor.fetchall()):
        report.add(
            "geometry_out_of_range",
            _(
                "Coordinates from (%(x0)g, %(y0)g) to (%(x1)g, %(y1)g) are no longitude and latitude: "
                "is the file's coordinate system right?"
            )
            % dict(zip(("x0", "y0", "x1", "y1"), extent, strict=True)),
            row=row,
            code=code,
        )
    cursor.execute(sql.INVALID_GEOMETRIES)
    invalid = cursor.fetchall()
    for row, code, reason in invalid:
        if fix_invalid:
            report.add(
                "geometry_repaired",
                _("Invalid geometry repaired with ST_MakeValid: %(reason)s") % {"reason": reason},
                row=row,
                code=code,
                severity=WARNING,
            )
        else:
            report.add(
                "geometry_invalid",
                _("Invalid geometry: %(reason)s (--fix-invalid repairs it)") % {"reason": reason},
                row=row,
                code=code,
            )
    if invalid and fix_invalid:
        cursor.execute(sql.REPAIR_GEOMETRIES)
    elif invalid:
        cursor.execute("UPDATE boundary_import_staging SET ok = false WHERE ok AND NOT ST_IsValid(geom)")
    cursor.execute(sql.EMPTY_AFTER_REPAIR)
    for row, code in cursor.fetchall():
        report.add("geometry_empty", _("The geometry has no area."), row=row, code=code)
    # A warning only: a draft with such a unit is refused at activation (boundaries.checks), an import is not.
    cursor.execute(sql.SLIVERS, {"min_area": settings.GEOGRID_MIN_UNIT_AREA_M2})
    for row, code, area in cursor.fetchall():
        report.add(
            "sliver",
            _("The unit covers only %(area).1f m², less than the smallest unit (%(min).0f m²).")
            % {"area": area, "min": settings.GEOGRID_MIN_UNIT_AREA_M2},
            row=row,
            code=code,
            severity=WARNING,
        )


def _check_against_database(cursor, params: dict, level: Level, report: ImportReport) -> None:
    cursor.execute(sql.CODES_TAKEN, params)
    for row, code, live in cursor.fetchall():
        if live:
            report.add(
                "code_exists",
                _("A unit with code %(code)s already exists in generation %(generation)s.")
                % {"code": code, "generation": params["generation"]},
                row=row,
                code=code,
            )
        else:
            report.add(
                "code_retired",
                _("Code %(code)s belonged to a retired unit; codes are never reused.") % {"code": code},
                row=row,
                code=code,
            )
    if level != Level.CITY:
        cursor.execute(sql.PARENTS_UNKNOWN, params)
        for row, code, parent in cursor.fetchall():
            report.add(
                "parent_unknown",
                _("Parent %(parent)s is not a %(level)s of generation %(generation)s; import the level above first.")
                % {"parent": parent, "level": Level(level - 1).label, "generation": params["generation"]},
                row=row,
                code=code,
            )
    cursor.execute(sql.SIBLING_OVERLAPS, params)
    for row, code, other, area in cursor.fetchall():
        report.add(
            "overlap",
            _("Overlaps sibling %(other)s by %(area).1f m².") % {"other": other, "area": area},
            row=row,
            code=code,
        )
    if level != Level.CITY:
        cursor.execute(sql.OUTSIDE_PARENT, params)
        for row, code, parent, area in cursor.fetchall():
            report.add(
                "outside_parent",
                _("Sticks out of its parent %(parent)s by %(area).1f m².") % {"parent": parent, "area": area},
                row=row,
                code=code,
            )
        cursor.execute(sql.PARENT_GAPS, params)
        for parent, area in cursor.fetchall():
            report.add(
                "gap",
                _("%(area).1f m² of parent %(parent)s are covered by none of its children.")
                % {"parent": parent, "area": area},
                code=parent,
                severity=WARNING,
            )


def boundary_import(
    *,
    path: Path | str,
    level: Level,
    code_field: str,
    name_field: str,
    parent_field: str | None = None,
    layer: str | None = None,
    source_srid: int | None = None,
    encoding: str | None = None,
    fix_invalid: bool = False,
    commit: bool = False,
    generation: Generation | None = None,
    source: str | None = None,
    tolerance_m2: float | None = None,
    actor=None,
    scope: Scope | None = None,
    progress: Callable[[str], None] | None = None,
) -> ImportReport:
    """
    Imports the units of one level from a Shapefile, GeoPackage or GeoJSON file.

    Every check runs in PostGIS on a staging table, and the units are then inserted so the
    database's own constraints are checked too. Without `commit`, or when anything is wrong, the
    transaction is rolled back: the report is the only result, and the database is unchanged.
    With `scope` (an upload through the API), a unit outside the units the caller may edit is an error.
    `progress` hears the stage as the work reaches it: reading, checking, writing.
    """
    progress = progress or (lambda stage: None)
    progress("reading")
    path = Path(path)
    level = Level(level)
    report = ImportReport(source=source or path.name, level=level.slug)
    options = BoundaryFileOptions(
        level=level,
        code_field=code_field,
        name_field=name_field,
        parent_field=parent_field,
        layer=layer,
        source_srid=source_srid,
        encoding=encoding,
        fix_invalid=fix_invalid,
    )
    try:
        features = read_boundary_file(path, options, report)
    except BoundaryFileError as exc:
        report.add(exc.kind, exc.message)
        return report
    report.feature_count = len(features)
    progress("checking")
    _check_rows(features, level, bool(parent_field), report)
    if scope is not None:
        _check_scope(features, scope, report)
    failed_rows = {p.row for p in report.errors if p.row is not None}

    tolerance = settings.GEOGRID_BOUNDARY_OVERLAP_TOLERANCE_M2 if tolerance_m2 is None else tolerance_m2
    created_generation = False
    try:
        with transaction.atomic():
            generation = generation or generation_active()
            if generation is None:
                generation = generation_create_initial()
                created_generation = True
            report.generation = generation.pk
            params = {"generation": generation.pk, "level": int(level), "tolerance": tolerance, "source": report.source}
            with connection.cursor() as cursor:
                _copy_staging(cursor, features, level, failed_rows)
                _check_geometries(cursor, params, fix_invalid, report)
                _check_against_database(cursor, params, level, report)
                if report.ok:
                    if commit:
                        progress("writing")
                    _insert(cursor, params, report)
                if commit and report.ok and report.feature_count >= ANALYZE_AFTER_UNITS:
                    # Until autovacuum gets to it, the planner would take the table for empty and test
                    # every unit against every other in the next checks and reassignments.
                    cursor.execute("ANALYZE boundaries_gridunit")
            if not (commit and report.ok):
                raise _DryRun
            report.committed = True
            transaction.on_commit(lambda: bump("boundaries"))
            audit_event(
                event="boundary_import",
                actor=actor,
                target=generation,
                data={"source": report.source, "level": level.slug, "units": report.feature_count},
            )
    except _DryRun:
        pass
    if created_generation and not report.committed:
        report.generation = None  # rolled back with everything else
    return report


def _check_scope(features: list[StagedFeature], scope: Scope, report: ImportReport) -> None:
    for feature in features:
        if feature.code and not scope.captures(feature.code):
            report.add(
                "outside_scope",
                _("Unit %(code)s lies outside the units you may edit.") % {"code": feature.code},
                row=feature.row,
                code=feature.code,
            )


# What an uploaded boundary file may be: a Shapefile comes zipped with its .shx, .dbf and .prj.
UPLOAD_SUFFIXES = (".zip", ".gpkg", ".geojson", ".json")


def _upload_checked(scope: Scope, upload) -> tuple[str, str]:
    """The uploaded boundary file's own name and suffix, once the caller and its type and size pass."""
    if not scope.has(EDIT_BOUNDARIES):
        raise PermissionDenied(_("You may not import boundaries."))
    name = Path(getattr(upload, "name", "") or "file").name
    suffix = Path(name).suffix.lower()
    if suffix not in UPLOAD_SUFFIXES:
        raise ValidationError(
            {"file": [_("Upload a zipped Shapefile (.zip), a GeoPackage (.gpkg) or a GeoJSON file (.geojson).")]}
        )
    try:
        check_size(upload.size, name)
    except UnsafeFile as exc:
        raise ValidationError({"file": [exc.message]}) from None
    return name, suffix


def _write_upload(upload, path: Path) -> None:
    with path.open("wb") as out:
        for chunk in upload.chunks():
            out.write(chunk)


def boundary_import_upload(*, scope: Scope, actor, upload, **options) -> ImportReport:
    """
    A boundary file uploaded through the API, imported as `boundary_import` does (a dry run unless
    `commit`), limited to the units the caller may edit. The file is written under a name of ours
    into a temporary directory and removed when the import is done; its content is checked there
    before anything reads it (the archive limits, the parts of a Shapefile, what a GeoPackage is).
    """
    name, suffix = _upload_checked(scope, upload)
    with tempfile.TemporaryDirectory(prefix="geogrid-upload-") as directory:
        stored = Path(directory) / f"boundaries{suffix}"
        _write_upload(upload, stored)
        return boundary_import(path=stored, source=name, actor=actor, scope=scope, **options)


def boundary_import_job_create(*, scope: Scope, actor, upload, options: dict) -> BoundaryImportJob:
    """
    The same import as a background job, for a file too large to import within a request: the file
    is kept privately under a name of ours until the job is done, and the job follows the work
    (`boundaries.tasks.run_boundary_import`). `options` are `boundary_import`'s, with the level by name.
    """
    from boundaries.tasks import run_boundary_import
    from jobs.services import task_enqueue

    name, suffix = _upload_checked(scope, upload)
    directory = Path(settings.GEOGRID_PRIVATE_ROOT) / "boundary-imports"
    directory.mkdir(parents=True, exist_ok=True)
    stored = directory / f"{uuid.uuid4().hex}{suffix}"
    _write_upload(upload, stored)
    with transaction.atomic():  # the job and its task are recorded together
        job = BoundaryImportJob.objects.create(
            file_name=name[:200], stored_path=str(stored), options=options, created_by=actor
        )
        task_enqueue(run_boundary_import, job.pk)
    return job


def _insert(cursor, params: dict, report: ImportReport) -> None:
    """Inserts the staged units and fires the deferred constraints, so a dry run sees what a commit would."""
    try:
        with transaction.atomic():
            cursor.execute(sql.INSERT_UNITS, params)
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")
    except (IntegrityError, DatabaseError) as exc:
        report.add("database", _("The database refused the units: %(reason)s") % {"reason": str(exc).splitlines()[0]})
        return
    cursor.execute(sql.COUNTS_PER_LEVEL, params)
    report.counts_per_level = {Level(level).slug: count for level, count in cursor.fetchall()}


EXPORT_FORMATS = {
    "gpkg": ("GPKG", ".gpkg"),
    "geojson": ("GeoJSON", ".geojson"),
    "shp": ("ESRI Shapefile", ".shp"),
}


def boundary_export(
    *,
    out: Path | str,
    file_format: str,
    generation: Generation,
    scope: Scope | None = None,
    level: Level | None = None,
    under: str | None = None,
) -> int:
    """Writes the generation's units in scope (optionally one level, one subtree) to a file; returns how many."""
    driver, _suffix = EXPORT_FORMATS[file_format]
    units = unit_list(scope=scope or Scope.everything(), generation=generation, level=level, under=under)
    rows = list(units.values_list("code", "name", "level", "parent_code", "area_m2", "geom"))
    frame = gpd.GeoDataFrame(
        {
            "code": [r[0] for r in rows],
            "name": [r[1] for r in rows],
            "level": [Level(r[2]).slug for r in rows],
            "parent": [r[3] or "" for r in rows],
            "area_m2": [round(r[4], 1) for r in rows],
        },
        geometry=shapely.from_wkb([bytes(r[5].wkb) for r in rows]) if rows else [],
        crs="EPSG:4326",
    )
    out = Path(out)
    if out.exists() and file_format != "shp":
        out.unlink()
    options = {"encoding": "UTF-8"} if file_format == "shp" else {}
    frame.to_file(
        out, driver=driver, engine="pyogrio", layer=None if file_format == "geojson" else "grid_units", **options
    )
    return len(rows)


def _assign_statement(
    cursor, *, table, id_column, geom_column, generation, under, where="", by_cell=False
) -> tuple[str, dict]:
    cell_filter = pgsql.SQL("")
    params: dict = {"generation": generation.pk}
    if under:
        cell_filter = pgsql.SQL("AND cell.code LIKE %(prefix)s")
        params["prefix"] = subtree_prefix(under) + "%"
    statement = pgsql.SQL(sql.ASSIGN_POINTS_BY_CELL if by_cell else sql.ASSIGN_POINTS).format(
        table=pgsql.Identifier(table),
        id_column=pgsql.Identifier(id_column),
        geom_column=pgsql.Identifier(geom_column),
        cell_filter=cell_filter,
        point_filter=pgsql.SQL(f"AND ({where})" if where else ""),
    )
    cursor.execute(sql.PARALLEL_JOIN_SETTINGS)
    return statement.as_string(cursor.cursor), params


def points_assign_cells(
    *,
    table: str,
    id_column: str = "id",
    geom_column: str = "geom",
    generation: Generation | None = None,
    under: str | None = None,
) -> list[tuple[int, str]]:
    """
    Assigns the points of a table (with a GiST index on its geometry) to the grid cells of a
    generation; returns (point id, cell code) pairs, points outside every cell left out.
    """
    generation = generation or generation_active()
    if generation is None:
        return []
    with transaction.atomic(), connection.cursor() as cursor:
        statement, params = _assign_statement(
            cursor, table=table, id_column=id_column, geom_column=geom_column, generation=generation, under=under
        )
        cursor.execute(statement, params)
        return cursor.fetchall()


def points_assign_units(
    *,
    table: str,
    id_column: str = "id",
    geom_column: str = "geom",
    grid_column: str = "grid_code",
    unit_column: str = "unit_code",
    where: str = "",
    reset: bool = True,
    generation: Generation | None = None,
    drop_indexes: bool = False,
) -> dict[str, int]:
    """
    Writes, in the database, each point's grid cell into `grid_column` ('' outside every cell) and
    its responsible unit into `unit_column`: the cell; for a point in no cell, the deepest unit
    covering it; for a point outside the whole grid, the community of the nearest cell (so the staff
    there see it in their list of unassigned points). `where` (trusted SQL over the table's alias `p`)
    limits the rows touched; `reset=False` saves a pass when those columns are known to be ''.
    `drop_indexes` drops the table's indexes once the cells are found, so the write skips their
    upkeep: for a staging table nothing else reads.
    Returns how many points landed in a cell, only in a unit, or nowhere.
    """
    generation = generation or generation_active()
    names = {
        "table": pgsql.Identifier(table),
        "id": pgsql.Identifier(id_column),
        "geom": pgsql.Identifier(geom_column),
        "grid": pgsql.Identifier(grid_column),
        "unit": pgsql.Identifier(unit_column),
        "where": pgsql.SQL(f"AND ({where})" if where else ""),
    }
    with transaction.atomic(), connection.cursor() as cursor:
        if reset or generation is None:
            cursor.execute(
                pgsql.SQL("UPDATE {table} p SET {grid} = '', {unit} = '' WHERE true {where}")
                .format(**names)
                .as_string(cursor.cursor)
            )
        if generation is not None:
            cursor.execute(
                pgsql.SQL("SELECT count(*) FROM (SELECT 1 FROM {table} p WHERE true {where} LIMIT %s) t")
                .format(**names)
                .as_string(cursor.cursor),
                [sql.ASSIGN_BY_CELL_FROM],
            )
            statement, params = _assign_statement(
                cursor,
                table=table,
                id_column=id_column,
                geom_column=geom_column,
                generation=generation,
                under=None,
                where=where,
                by_cell=cursor.fetchone()[0] >= sql.ASSIGN_BY_CELL_FROM,
            )
            # The cells are found first, on their own (an UPDATE may not use parallel workers, and its
            # planner would probe the units' index point by point), then written in one hash join.
            cursor.execute("DROP TABLE IF EXISTS assign_hits")
            cursor.execute(
                f"CREATE TEMP TABLE assign_hits (point_id, code) ON COMMIT DROP AS {statement}; ANALYZE assign_hits",
                params,
            )
            if drop_indexes:
                cursor.execute("SELECT indexrelid::regclass::text FROM pg_index WHERE indrelid = %s::regclass", [table])
                for (index,) in cursor.fetchall():
                    cursor.execute(f"DROP INDEX {index}")
            cursor.execute(
                pgsql.SQL(
                    "UPDATE {table} p SET {grid} = hit.code, {unit} = hit.code FROM assign_hits hit "
                    "WHERE p.{id} = hit.point_id"
                )
                .format(**names)
                .as_string(cursor.cursor)
            )
            cursor.execute("DROP TABLE assign_hits")
            cursor.execute(pgsql.SQL(sql.UNASSIGNED_RESPONSIBLE_UNIT).format(**names).as_string(cursor.cursor), params)
        cursor.execute(
            pgsql.SQL(
                "SELECT count(*) FILTER (WHERE {grid} <> ''), count(*) FILTER (WHERE {grid} = '' AND {unit} <> ''), "
                "count(*) FILTER (WHERE {unit} = '') FROM {table} p WHERE true {where}"
            )
            .format(**names)
            .as_string(cursor.cursor)
        )
        in_cell, in_unit, outside = cursor.fetchone()
    return {"in_cell": in_cell, "in_unit": in_unit, "outside": outside}


def _binary_copy_points(lon: np.ndarray, lat: np.ndarray) -> bytes:
    """(row number, EWKB point) rows in PostgreSQL's binary COPY format, built by numpy in one pass."""
    row = np.dtype(
        [
            ("fields", ">i2"),
            ("id_size", ">i4"),
            ("id", ">i4"),
            ("geom_size", ">i4"),
            ("byte_order", "u1"),
            ("wkb_type", "<u4"),
            ("srid", "<u4"),
            ("x", "<f8"),
            ("y", "<f8"),
        ]
    )
    rows = np.empty(len(lon), dtype=row)
    rows["fields"], rows["id_size"], rows["id"], rows["geom_size"] = 2, 4, np.arange(len(lon)), 25
    # Little-endian EWKB point carrying its SRID (the 0x20000000 flag).
    rows["byte_order"], rows["wkb_type"], rows["srid"], rows["x"], rows["y"] = 1, 0x20000001, 4326, lon, lat
    header = b"PGCOPY\n\xff\r\n\x00" + (0).to_bytes(4, "big") + (0).to_bytes(4, "big")
    return header + rows.tobytes() + (-1).to_bytes(2, "big", signed=True)


def cells_for_points(*, lon: np.ndarray, lat: np.ndarray, generation: Generation | None = None) -> np.ndarray:
    """
    The grid cell code of each WGS-84 point (None outside every cell), for arrays of any length.

    The points go to the database in one binary COPY into an unlogged scratch table (a temporary
    table could not be read by parallel workers), get a GiST index, and are assigned by
    points_assign_cells; the table goes with the transaction.
    """
    lon = np.ascontiguousarray(lon, dtype=float)
    lat = np.ascontiguousarray(lat, dtype=float)
    codes = np.full(len(lon), None, dtype=object)
    generation = generation or generation_active()
    if len(lon) == 0 or generation is None:
        return codes
    table = f"assign_points_{uuid.uuid4().hex}"
    with transaction.atomic(), connection.cursor() as cursor:
        name = pgsql.Identifier(table).as_string(cursor.cursor)
        cursor.execute(f"CREATE UNLOGGED TABLE {name} (id integer, geom geometry(Point, 4326))")
        try:
            with cursor.cursor.copy(f"COPY {name} (id, geom) FROM STDIN (FORMAT BINARY)") as copy:
                copy.write(_binary_copy_points(lon, lat))
            cursor.execute(f"CREATE INDEX ON {name} USING gist (geom); ANALYZE {name}")
            statement, params = _assign_statement(
                cursor, table=table, id_column="id", geom_column="geom", generation=generation, under=None
            )
            # Grid codes have 15 digits, so the binary rows have one fixed width and numpy reads them whole.
            pairs = np.dtype(
                [("fields", ">i2"), ("id_size", ">i4"), ("id", ">i4"), ("code_size", ">i4"), ("code", "S15")]
            )
            with cursor.cursor.copy(
                pgsql.SQL("COPY ({}) TO STDOUT (FORMAT BINARY)").format(pgsql.SQL(statement)), params
            ) as copy:
                data = b"".join(bytes(chunk) for chunk in copy)
        finally:
            cursor.execute(f"DROP TABLE IF EXISTS {name}")
    rows = np.frombuffer(data, dtype=pairs, offset=19, count=(len(data) - 21) // pairs.itemsize)
    codes[rows["id"]] = rows["code"].astype("U15")
    return codes

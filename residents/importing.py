"""Importing households and residents from CSV or XLSX: staged, checked and assigned in PostGIS, written with SQL."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils.translation import gettext as _
from psycopg import sql as pgsql

from boundaries.selectors import generation_active_held
from boundaries.services import points_assign_units
from core import crypto
from core.bulk import analyze, indexes_rebuilt_after
from core.coords import SUPPORTED_CRS, to_wgs84_array
from core.personal import id_number_birth_date, id_number_gender, id_number_validate, phone_validate
from core.scope import Scope
from core.tabular import (
    WARNING,
    Progress,
    StagedTable,
    TableFileError,
    TableReport,
    no_progress,
    resolve_columns,
    stage_file,
)
from residents import sql
from residents.models import Gender, HousingType, Relation, ResidenceStatus, Source
from residents.vocabulary import COLUMN_ALIASES, RESIDENT_COLUMNS, VALUE_ALIASES
from tiles.cache import bump
from tiles.prerender import prerender_soon

CODES = {
    "housing_type": HousingType.values,
    "source": Source.values,
    "gender": Gender.values,
    "relation": Relation.values,
    "residence_status": ResidenceStatus.values,
}

# Below this trigram similarity an address is reported, not guessed.
GEOCODE_THRESHOLD = 0.55


@dataclass
class ImportOptions:
    mapping: dict[str, str] = field(default_factory=dict)
    crs: str = "wgs84"
    encoding: str | None = None
    geocode: bool = False
    skip_bad: bool = False
    commit: bool = False


# An import of at least this many rows refreshes the planner's statistics of the tables it wrote.
ANALYZE_AFTER_ROWS = 1000


def load_mapping(path: Path | str | None) -> dict:
    """A mapping file: `columns: {canonical: header}`, optional `crs` and `encoding`."""
    if path is None:
        return {}
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise TableFileError("mapping", _("The mapping file cannot be read: %(reason)s") % {"reason": exc}) from None
    if not isinstance(data, dict) or not isinstance(data.get("columns", {}), dict):
        raise TableFileError("mapping", _("The mapping file must hold a `columns:` table of name: header."))
    return data


# Messages of the problems found in SQL, by kind; {value} is the cell's content.
MESSAGES = {
    "address_missing": lambda v: _("The address is missing."),
    "coordinates_missing": lambda v: _("Longitude and latitude are missing (or pass --geocode to place by address)."),
    "not_a_number": lambda v: _("%(value)s is not a number.") % {"value": v},
    "lon_out_of_range": lambda v: _("Longitude %(value)s is outside -180..180.") % {"value": v},
    "lat_out_of_range": lambda v: _("Latitude %(value)s is outside -90..90.") % {"value": v},
    "swapped": lambda v: _("Longitude and latitude look swapped (%(value)s).") % {"value": v},
    "unknown_value": lambda v: _("Unknown value %(value)s.") % {"value": v},
    "unknown_tag": lambda v: _("Unknown tag %(value)s.") % {"value": v},
    "bad_size": lambda v: _("Household size %(value)s is not a whole number from 0 to 50.") % {"value": v},
    "bad_date": lambda v: _("%(value)s is not a date (YYYY-MM-DD).") % {"value": v},
    "name_missing": lambda v: _("The resident's name is missing."),
    "second_head": lambda v: _("The household already has a head."),
    "household_conflict": lambda v: (
        _("Rows of one household number give different addresses (%(value)s).") % {"value": v}
    ),
    "household_rejected": lambda v: _("Left out with its household, whose first row has errors."),
    "address_not_found": lambda v: _("The address matches no building (best: %(value)s).") % {"value": v},
    "geocoded_fuzzy": lambda v: _("Placed at the building with the closest address: %(value)s.") % {"value": v},
    "outside_scope": lambda v: _("The point lies outside your jurisdiction (%(value)s).") % {"value": v},
    "ragged": lambda v: _("Line %(value)s does not have as many cells as the header.") % {"value": v},
    "id_exists": lambda v: _("A resident with this ID number is already registered."),
    "duplicate_ref": lambda v: _("Reference %(value)s is used twice.") % {"value": v},
}


@dataclass
class _Run:
    """The state of one import: its tables and resolved columns."""

    staged: StagedTable
    columns: dict[str, int]
    options: ImportOptions
    report: TableReport
    scope: Scope
    ragged: list[tuple[int, int]] = field(default_factory=list)
    token: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    sequences: dict[str, pgsql.Composable] = field(default_factory=dict)

    def table(self, kind: str) -> pgsql.Identifier:
        return pgsql.Identifier(f"import_{kind}_{self.token}")

    def header(self, canonical: str) -> str:
        index = self.columns.get(canonical)
        return self.staged.headers[index] if index is not None else canonical

    def has(self, canonical: str) -> bool:
        return canonical in self.columns

    def execute(self, cursor, statement: str, params=None, **identifiers):
        names = {
            "staged": pgsql.Identifier(self.staged.name),
            "rows": self.table("rows"),
            "households": self.table("households"),
            "problems": self.table("problems"),
            "values": self.table("values"),
            "personal": self.table("personal"),
            **self.sequences,
            **identifiers,
        }
        cursor.execute(pgsql.SQL(statement).format(**names).as_string(cursor.cursor), params)


def household_import(
    *,
    path: Path | str,
    options: ImportOptions,
    scope: Scope,
    actor=None,
    progress: Progress = no_progress,
    source: str | None = None,
    rejects_to=None,
) -> TableReport:
    """
    Imports households and their residents from a CSV or XLSX file, one row per resident (rows
    sharing a household number form one household; a file without that column has one household
    per row). Everything is checked before anything is written; a dry run (no `commit`) and a
    commit with errors (without `skip_bad`) leave the database unchanged. `rejects_to`, a text
    stream, receives the bad rows as the file had them plus what is wrong with each.
    """
    from residents.services import import_audit

    path = Path(path)
    report = TableReport(source=source or path.name, skip_bad=options.skip_bad)
    if options.crs not in SUPPORTED_CRS:
        report.add(
            "crs",
            _("Unknown coordinate system %(crs)s; use one of %(names)s.")
            % {"crs": options.crs, "names": ", ".join(SUPPORTED_CRS)},
        )
        return report
    with transaction.atomic():
        # Tiles of households go stale if this import commits (nothing happens on a dry run).
        transaction.on_commit(lambda: bump("households"))
        try:
            staged, ragged = stage_file(path, encoding=options.encoding, progress=progress)
        except TableFileError as exc:
            report.add(exc.kind, exc.message)
            return _refused(report)
        report.rows = staged.rows
        if staged.rows == 0:
            report.add("empty", _("The file has a header but no rows."))
            return _refused(report)
        columns, problems = resolve_columns(staged.headers, COLUMN_ALIASES, options.mapping)
        for message in problems:
            report.add("mapping", message)
        missing = [name for name in ("address",) if name not in columns]
        if not options.geocode:
            missing += [name for name in ("lon", "lat") if name not in columns]
        if missing:
            report.add(
                "missing_columns",
                _("Required columns are missing: %(names)s. The file's columns are: %(headers)s")
                % {"names": ", ".join(missing), "headers": ", ".join(staged.headers)},
            )
        if report.errors:
            return _refused(report)
        run = _Run(staged=staged, columns=columns, options=options, report=report, scope=scope, ragged=ragged)
        with connection.cursor() as cursor:
            # Sorts and hashes over the whole file stay in memory (for this transaction only).
            cursor.execute("SELECT set_config('work_mem', %s, true)", [settings.GEOGRID_BULK_WORK_MEM])
            _resolve_sequences(cursor, run)
            progress("checking", 0, 4)
            _parse(cursor, run)
            _check_values(cursor, run)
            progress("checking", 1, 4)
            _check_personal_data(cursor, run)
            progress("checking", 2, 4)
            _place(cursor, run)
            progress("checking", 3, 4)
            _collect_problems(cursor, run)
            _count(cursor, run)
            progress("checking", 4, 4)
            if rejects_to is not None:
                from core.tabular import write_rejects

                write_rejects(rejects_to, staged, report)
            if options.commit and report.ok:
                progress("writing", 0, 1)
                _write(cursor, run)
                if report.counts.get("households", 0) >= ANALYZE_AFTER_ROWS:
                    # Autovacuum may be off or behind: the planner must know the tables grew.
                    analyze(cursor, "residents_household")
                    analyze(cursor, "residents_resident")
                report.committed = True
                # Tiles built ahead (when the deployment does) are built again once this commits.
                prerender_soon(sources=("households",))
                import_audit(actor=actor, report=report)
                progress("writing", 1, 1)
            # Dropped now, not left to the transaction: an outer transaction may run several imports.
            for kind in ("rows", "households", "problems", "values", "personal"):
                run.execute(cursor, "DROP TABLE IF EXISTS {t}", t=run.table(kind))
            cursor.execute("DROP TABLE IF EXISTS import_bad, import_members")
            staged.drop()
        if not report.committed:
            transaction.set_rollback(True)
    return report


def _refused(report: TableReport) -> TableReport:
    """Ends an import that stopped early: nothing it did stays behind, its staging table included."""
    transaction.set_rollback(True)
    return report


def _resolve_sequences(cursor, run: _Run) -> None:
    """The id sequences of households and residents, as regclass literals for the SQL that draws ids."""
    cursor.execute(
        "SELECT pg_get_serial_sequence('residents_household', 'id'), pg_get_serial_sequence('residents_resident', 'id')"
    )
    households, residents = cursor.fetchone()
    run.sequences = {
        "household_sequence": pgsql.SQL("{}::regclass").format(pgsql.Literal(households)),
        "resident_sequence": pgsql.SQL("{}::regclass").format(pgsql.Literal(residents)),
    }


def _column(run: _Run, canonical: str) -> pgsql.Composable:
    if canonical in run.columns:
        return pgsql.SQL("nullif(btrim(s.{}), '')").format(pgsql.Identifier(f"c{run.columns[canonical]}"))
    return pgsql.SQL("NULL::text")


def _parse(cursor, run: _Run) -> None:
    """One row per data row with every canonical column (NULL when absent), parsed, with its household."""
    run.execute(cursor, sql.VALUES_CREATE)
    with cursor.cursor.copy(
        pgsql.SQL("COPY {} (field, word, code) FROM STDIN").format(run.table("values")).as_string(cursor.cursor)
    ) as copy:
        for name, words in VALUE_ALIASES.items():
            for code in CODES[name]:
                copy.write_row((name, code, code))
            for word, code in words.items():
                copy.write_row((name, word.lower(), code))
    run.execute(cursor, sql.VALUES_FILL)
    run.execute(cursor, sql.PROBLEMS_CREATE)
    if run.ragged:
        with cursor.cursor.copy(
            pgsql.SQL("COPY {} (row, field, kind, value) FROM STDIN")
            .format(run.table("problems"))
            .as_string(cursor.cursor)
        ) as copy:
            for row, line in run.ragged:
                copy.write_row((row, None, "ragged", str(line)))
    select = pgsql.SQL(", ").join(
        pgsql.SQL("{} AS {}").format(_column(run, canonical), pgsql.Identifier(canonical))
        for canonical in COLUMN_ALIASES
    )
    has_resident = pgsql.SQL(" OR ").join(
        pgsql.SQL("{} IS NOT NULL").format(_column(run, name)) for name in RESIDENT_COLUMNS
    )
    run.execute(cursor, sql.ROWS_CREATE, select=select, has_resident=has_resident)
    run.execute(cursor, sql.ROWS_INDEX)


def _check_values(cursor, run: _Run) -> None:
    statements = list(sql.VALUE_CHECKS)
    if any(run.has(name) for name in RESIDENT_COLUMNS):
        statements += sql.RESIDENT_CHECKS
    for statement in statements:
        run.execute(cursor, statement, {"geocode": run.options.geocode})


def _check_personal_data(cursor, run: _Run) -> None:
    """ID and phone numbers are validated, hashed and encrypted here: the keys never reach SQL."""
    if not (run.has("id_number") or run.has("phone")):
        run.execute(cursor, sql.PERSONAL_CREATE)
        return
    run.execute(
        cursor,
        "SELECT row, id_number, phone, gender_code, birth FROM {rows} "
        "WHERE has_resident AND (id_number IS NOT NULL OR phone IS NOT NULL) ORDER BY row",
    )
    rows = cursor.fetchall()
    personal, problems = [], []
    seen_ids: dict[str, int] = {}
    for row, id_raw, phone_raw, gender, birth in rows:
        id_number = phone = ""
        derived_gender = derived_birth = None
        if id_raw:
            try:
                id_number = id_number_validate(id_raw)
            except ValidationError as exc:
                problems.append((row, "id_number", "invalid", exc.messages[0]))
            else:
                derived_gender, derived_birth = id_number_gender(id_number), id_number_birth_date(id_number)
                if id_number in seen_ids:
                    problems.append(
                        (
                            row,
                            "id_number",
                            "duplicate",
                            _("The ID number repeats row %(row)d.") % {"row": seen_ids[id_number]},
                        )
                    )
                    id_number = ""
                else:
                    seen_ids[id_number] = row
                if gender and derived_gender and gender != derived_gender:
                    problems.append((row, "gender", "mismatch", _("The gender contradicts the ID number.")))
                if birth and derived_birth and birth != derived_birth:
                    problems.append((row, "birth_date", "mismatch", _("The birth date contradicts the ID number.")))
        if phone_raw:
            try:
                phone = phone_validate(phone_raw)
            except ValidationError as exc:
                problems.append((row, "phone", "invalid", exc.messages[0]))
        personal.append(
            (
                row,
                crypto.encrypt(id_number) if id_number else "",
                crypto.blind_index(id_number),
                crypto.encrypt(phone) if phone else "",
                crypto.blind_index(phone),
                derived_gender,
                derived_birth,
            )
        )
    run.execute(cursor, sql.PERSONAL_CREATE)
    with cursor.cursor.copy(
        pgsql.SQL("COPY {} (row, id_number, id_number_index, phone, phone_index, id_gender, id_birth) FROM STDIN")
        .format(run.table("personal"))
        .as_string(cursor.cursor)
    ) as copy:
        for values in personal:
            copy.write_row(values)
    with cursor.cursor.copy(
        pgsql.SQL("COPY {} (row, field, kind, value) FROM STDIN").format(run.table("problems")).as_string(cursor.cursor)
    ) as copy:
        for values in problems:
            copy.write_row(values)
    run.execute(cursor, sql.PERSONAL_DUPLICATES_IN_DATABASE)


def _place(cursor, run: _Run) -> None:
    """Coordinates converted to WGS-84, addresses geocoded, and every household assigned to its unit."""
    run.execute(cursor, sql.HOUSEHOLDS_CREATE)
    if run.options.crs != "wgs84":
        run.execute(
            cursor,
            "SELECT key_row, lon_num, lat_num FROM {households} WHERE lon_num IS NOT NULL AND lat_num IS NOT NULL",
        )
        rows = cursor.fetchall()
        if rows:
            keys, lon, lat = (np.array(column) for column in zip(*rows, strict=True))
            lon, lat = to_wgs84_array(lon, lat, run.options.crs)
            cursor.execute("CREATE TEMP TABLE import_converted (key_row bigint, lon float8, lat float8) ON COMMIT DROP")
            with cursor.cursor.copy("COPY import_converted FROM STDIN") as copy:
                for values in zip(keys.tolist(), lon.tolist(), lat.tolist(), strict=True):
                    copy.write_row(values)
            run.execute(cursor, sql.HOUSEHOLDS_CONVERTED)
            cursor.execute("DROP TABLE import_converted")
    if run.options.geocode:
        run.execute(cursor, sql.GEOCODE, {"threshold": GEOCODE_THRESHOLD})
    run.execute(cursor, sql.HOUSEHOLDS_INDEX)
    points_assign_units(
        table=f"import_households_{run.token}",
        id_column="key_row",
        geom_column="geom",
        where="p.geom IS NOT NULL",
        reset=False,
        # Held until the import commits: an activation of a redrawn grid waits, and then moves these too.
        generation=generation_active_held(),
        drop_indexes=True,
    )
    if not run.scope.is_global:
        prefixes = sorted(run.scope.capture_prefixes)
        run.execute(cursor, sql.OUTSIDE_SCOPE, {"prefixes": [p + "%" for p in prefixes] or ["-"]})


def _collect_problems(cursor, run: _Run) -> None:
    if run.options.skip_bad:
        run.execute(cursor, sql.HOUSEHOLD_REJECTED)
    run.execute(cursor, sql.PROBLEMS_LIST)
    warning_kinds = {"geocoded_fuzzy"}
    for row, canonical, kind, value in cursor.fetchall():
        message = MESSAGES[kind](value) if kind in MESSAGES else value
        run.report.add(
            f"{canonical}_{kind}" if canonical and kind in ("invalid", "duplicate", "mismatch") else kind,
            message,
            row=row,
            column=run.header(canonical) if canonical else None,
            severity=WARNING if kind in warning_kinds else "error",
        )
    run.report.problems.sort(key=lambda p: (p.row or 0, p.column or ""))


def _count(cursor, run: _Run) -> None:
    run.execute(cursor, sql.BAD_CREATE)
    run.execute(cursor, sql.COUNTS)
    households, residents, in_cell, unassigned, geocoded, bad_rows = cursor.fetchone()
    run.report.counts = {
        "households": households,
        "residents": residents,
        "assigned": in_cell,
        "unassigned": unassigned,
        "geocoded": geocoded,
    }
    if run.options.skip_bad:
        run.report.rejects = sorted({p.row for p in run.report.errors if p.row is not None})
        run.report.counts["rejected_rows"] = bad_rows


def _write(cursor, run: _Run) -> None:
    counts = run.report.counts
    with (
        indexes_rebuilt_after(cursor, "residents_household", counts["households"]) as households,
        indexes_rebuilt_after(cursor, "residents_resident", counts["residents"]) as residents,
    ):
        for statement in sql.WRITE:
            run.execute(cursor, statement)
    run.report.indexes_rebuilt = households.indexes + residents.indexes


def import_options(
    *,
    mapping: Mapping | None = None,
    crs: str | None = None,
    encoding: str | None = None,
    geocode: bool = False,
    skip_bad: bool = False,
    commit: bool = False,
) -> ImportOptions:
    """Options from a mapping file's content and explicit arguments (arguments win)."""
    mapping = mapping or {}
    return ImportOptions(
        mapping={str(k): str(v) for k, v in (mapping.get("columns") or {}).items()},
        crs=(crs or mapping.get("crs") or "wgs84").lower(),
        encoding=encoding or mapping.get("encoding"),
        geocode=geocode,
        skip_bad=skip_bad,
        commit=commit,
    )


BUILDING_ALIASES = {
    "ref": ("ref", "编号", "楼栋编号"),
    "address": ("address", "地址"),
    "lon": ("lon", "lng", "经度"),
    "lat": ("lat", "纬度"),
    "floors": ("floors", "层数"),
    "units": ("units", "单元数"),
}


def building_import(
    *,
    path: Path | str,
    scope: Scope,
    commit: bool = False,
    encoding: str | None = None,
    crs: str = "wgs84",
    actor=None,
    progress: Progress = no_progress,
) -> TableReport:
    """Imports the address gazetteer (ref, address, lon, lat, floors, units); all or nothing."""
    from residents.services import import_audit

    path = Path(path)
    report = TableReport(source=path.name)
    with transaction.atomic():
        try:
            staged, ragged = stage_file(path, encoding=encoding, progress=progress)
        except TableFileError as exc:
            report.add(exc.kind, exc.message)
            return _refused(report)
        report.rows = staged.rows
        columns, problems = resolve_columns(staged.headers, BUILDING_ALIASES)
        missing = [name for name in ("ref", "address", "lon", "lat") if name not in columns]
        for message in problems:
            report.add("mapping", message)
        if missing:
            report.add("missing_columns", _("Required columns are missing: %(names)s.") % {"names": ", ".join(missing)})
            return _refused(report)
        for row, line in ragged:
            report.add("ragged", MESSAGES["ragged"](line), row=row)
        table = f"import_buildings_{uuid.uuid4().hex[:12]}"
        select = {
            name: pgsql.SQL("nullif(btrim(s.{}), '')").format(pgsql.Identifier(f"c{index}"))
            for name, index in columns.items()
        }
        for name in ("floors", "units"):
            select.setdefault(name, pgsql.SQL("NULL::text"))
        with connection.cursor() as cursor:
            cursor.execute(
                pgsql.SQL(sql.BUILDINGS_CREATE)
                .format(table=pgsql.Identifier(table), staged=pgsql.Identifier(staged.name), **select)
                .as_string(cursor.cursor)
            )
            if crs != "wgs84":
                cursor.execute(
                    pgsql.SQL("SELECT row, lon, lat FROM {} WHERE geom IS NOT NULL")
                    .format(pgsql.Identifier(table))
                    .as_string(cursor.cursor)
                )
                rows = cursor.fetchall()
                if rows:
                    keys, lon, lat = (np.array(column) for column in zip(*rows, strict=True))
                    lon, lat = to_wgs84_array(lon, lat, crs)
                    cursor.executemany(
                        pgsql.SQL("UPDATE {} SET geom = ST_SetSRID(ST_MakePoint(%s, %s), 4326) WHERE row = %s")
                        .format(pgsql.Identifier(table))
                        .as_string(cursor.cursor),
                        list(zip(lon.tolist(), lat.tolist(), keys.tolist(), strict=True)),
                    )
            cursor.execute(
                pgsql.SQL(sql.BUILDINGS_PROBLEMS).format(table=pgsql.Identifier(table)).as_string(cursor.cursor)
            )
            for row, kind, value in cursor.fetchall():
                report.add(kind, MESSAGES.get(kind, lambda v: str(v))(value), row=row)
            cursor.execute(
                pgsql.SQL("CREATE INDEX ON {} USING gist (geom); ANALYZE {}")
                .format(pgsql.Identifier(table), pgsql.Identifier(table))
                .as_string(cursor.cursor)
            )
            points_assign_units(
                table=table, id_column="row", geom_column="geom", where="p.geom IS NOT NULL", reset=False
            )
            if not scope.is_global:
                cursor.execute(
                    pgsql.SQL("SELECT row, unit_code FROM {} WHERE geom IS NOT NULL AND NOT (unit_code LIKE ANY (%s))")
                    .format(pgsql.Identifier(table))
                    .as_string(cursor.cursor),
                    [[p + "%" for p in scope.capture_prefixes] or ["-"]],
                )
                for row, unit in cursor.fetchall():
                    report.add("outside_scope", MESSAGES["outside_scope"](unit or "-"), row=row)
            report.problems.sort(key=lambda p: (p.row or 0, p.kind))
            cursor.execute(
                pgsql.SQL("SELECT count(*), count(*) FILTER (WHERE grid_code <> '') FROM {}")
                .format(pgsql.Identifier(table))
                .as_string(cursor.cursor)
            )
            total, assigned = cursor.fetchone()
            report.counts = {"buildings": total, "assigned": assigned}
            if commit and not report.errors:
                cursor.execute(
                    pgsql.SQL(sql.BUILDINGS_WRITE).format(table=pgsql.Identifier(table)).as_string(cursor.cursor)
                )
                if total >= ANALYZE_AFTER_ROWS:
                    cursor.execute("ANALYZE residents_building")
                report.committed = True
                import_audit(actor=actor, report=report)
            cursor.execute(pgsql.SQL("DROP TABLE {}").format(pgsql.Identifier(table)).as_string(cursor.cursor))
            staged.drop()
        if not report.committed:
            transaction.set_rollback(True)
    return report

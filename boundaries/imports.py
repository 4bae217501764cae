"""Reading boundary files (Shapefile, GeoPackage, GeoJSON) into rows ready for staging, and the import report."""

from __future__ import annotations

import json
import sqlite3
import struct
import tempfile
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pyogrio
import shapely
from django.conf import settings
from django.utils.translation import gettext as _
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError

from boundaries.models import Level
from core.files import UnsafeFile, check_size, content_kind, extract_archive

ERROR = "error"
WARNING = "warning"


class BoundaryFileError(Exception):
    """The file as a whole cannot be imported (unreadable, no CRS, a named field missing...)."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind
        self.message = message


@dataclass
class ImportProblem:
    kind: str
    message: str
    severity: str = ERROR
    row: int | None = None  # 1-based feature number in the file
    code: str | None = None


@dataclass
class ImportReport:
    """What an import found and did; a dry run and a refused commit write nothing but this."""

    source: str
    level: str
    feature_count: int = 0
    generation: int | None = None
    committed: bool = False
    counts_per_level: dict[str, int] = field(default_factory=dict)
    problems: list[ImportProblem] = field(default_factory=list)

    @property
    def errors(self) -> list[ImportProblem]:
        return [p for p in self.problems if p.severity == ERROR]

    @property
    def warnings(self) -> list[ImportProblem]:
        return [p for p in self.problems if p.severity == WARNING]

    @property
    def ok(self) -> bool:
        return not self.errors

    def add(self, kind: str, message: str, *, row=None, code=None, severity=ERROR) -> None:
        self.problems.append(ImportProblem(kind=kind, message=message, severity=severity, row=row, code=code))

    def as_dict(self) -> dict:
        return {
            "source": self.source,
            "level": self.level,
            "feature_count": self.feature_count,
            "generation": self.generation,
            "committed": self.committed,
            "ok": self.ok,
            "counts_per_level": self.counts_per_level,
            "errors": [asdict(p) for p in self.errors],
            "warnings": [asdict(p) for p in self.warnings],
        }

    def as_json(self) -> str:
        return json.dumps(self.as_dict(), ensure_ascii=False, indent=2)

    def as_text(self) -> str:
        lines = [
            _("Boundary import of %(source)s as level %(level)s: %(count)d features.")
            % {"source": self.source, "level": self.level, "count": self.feature_count}
        ]
        if self.counts_per_level:
            counts = ", ".join(f"{level} {count}" for level, count in self.counts_per_level.items())
            lines.append(
                _("Units per level in generation %(generation)s after import: %(counts)s")
                % {"generation": self.generation, "counts": counts}
            )
        for title, problems in ((_("Errors"), self.errors), (_("Warnings"), self.warnings)):
            if not problems:
                continue
            lines.append(f"{title} ({len(problems)}):")
            for problem in problems:
                where = []
                if problem.row is not None:
                    where.append(_("feature %(row)d") % {"row": problem.row})
                if problem.code:
                    where.append(problem.code)
                prefix = f"[{', '.join(where)}] " if where else ""
                lines.append(f"  - {problem.kind}: {prefix}{problem.message}")
        if self.committed:
            lines.append(
                _("Committed: %(count)d units written to generation %(generation)s.")
                % {"count": self.feature_count, "generation": self.generation}
            )
        elif self.errors:
            lines.append(_("Nothing was written: fix the errors above and run again."))
        else:
            lines.append(_("Dry run: nothing was written. Run again with --commit to write."))
        return "\n".join(lines)


@dataclass
class StagedFeature:
    row: int
    code: str
    name: str
    parent_code: str
    ewkb: str | None  # hex EWKB in SRID 4326, None when the geometry could not be read


@dataclass
class BoundaryFileOptions:
    level: Level
    code_field: str
    name_field: str
    parent_field: str | None = None
    layer: str | None = None
    source_srid: int | None = None
    encoding: str | None = None
    fix_invalid: bool = False


def _text(value) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # codes stored as numbers in a .dbf come back as floats
    return str(value).strip()


def _choose_layer(path: Path, layer: str | None) -> str | None:
    try:
        layers = [name for name, _geometry_type in pyogrio.list_layers(path)]
    except Exception as exc:  # GDAL raises many error types for unreadable files
        raise BoundaryFileError("unreadable", _("The file cannot be read: %(reason)s") % {"reason": exc}) from exc
    if layer is not None:
        if layer not in layers:
            raise BoundaryFileError(
                "unknown_layer",
                _("Layer %(layer)s is not in the file; its layers are: %(layers)s")
                % {"layer": layer, "layers": ", ".join(layers)},
            )
        return layer
    if len(layers) > 1:
        raise BoundaryFileError(
            "layer_required",
            _("The file has several layers (%(layers)s); choose one with --layer.") % {"layers": ", ".join(layers)},
        )
    return None


def _source_crs(meta_crs: str | None, source_srid: int | None) -> CRS:
    try:
        if source_srid is not None:
            return CRS.from_epsg(source_srid)
        if meta_crs:
            return CRS.from_user_input(meta_crs)
    except CRSError as exc:
        raise BoundaryFileError(
            "bad_crs", _("The coordinate reference system is not usable: %(reason)s") % {"reason": exc}
        ) from exc
    raise BoundaryFileError(
        "no_crs",
        _(
            "The file does not say its coordinate reference system (a Shapefile without .prj?); "
            "pass --source-srid, e.g. --source-srid 4490 for CGCS2000."
        ),
    )


DATA_SUFFIXES = (".shp", ".gpkg", ".geojson", ".json")
SHAPEFILE_CODE = 9994  # the first four bytes of a .shp and a .shx, big-endian


def read_boundary_file(path: Path, options: BoundaryFileOptions, report: ImportReport) -> list[StagedFeature]:
    """
    Reads every feature, transformed to SRID 4326; per-feature problems go to the report. A zip
    archive (a zipped Shapefile) is checked against the archive limits and unpacked into a temporary
    directory first; the limits on size, features and vertices hold before the features are used.
    """
    if not path.exists():
        raise BoundaryFileError("not_found", _("File %(path)s does not exist.") % {"path": path})
    with tempfile.TemporaryDirectory(prefix="geogrid-boundaries-") as scratch:
        try:
            source = _data_file(path, Path(scratch))
            _check_data_file(source)
        except UnsafeFile as exc:
            raise BoundaryFileError(exc.kind, exc.message) from None
        return _read_features(source, options, report)


def _data_file(path: Path, scratch: Path) -> Path:
    """The file GDAL should read: `path` itself, or the one data file inside a zip archive."""
    with path.open("rb") as handle:
        kind = content_kind(handle.read(8192))
    if path.suffix.lower() != ".zip" and kind != "zip":
        return path
    check_size(path.stat().st_size, path.name)
    unpacked = extract_archive(path, scratch, path.name)
    # Finder's resource forks (__MACOSX/._name.shp) are not data.
    candidates = [
        file
        for file in unpacked
        if file.suffix.lower() in DATA_SUFFIXES and "__MACOSX" not in file.parts and not file.name.startswith("._")
    ]
    if len(candidates) != 1:
        raise UnsafeFile(
            "archive_contents",
            _("%(name)s must hold exactly one .shp, .gpkg or .geojson file; it holds %(found)s.")
            % {"name": path.name, "found": ", ".join(sorted(f.name for f in candidates)) or "-"},
        )
    return candidates[0]


def _sibling(path: Path, suffix: str) -> Path | None:
    for candidate in (path.with_suffix(suffix), path.with_suffix(suffix.upper())):
        if candidate.exists():
            return candidate
    return None


def _check_data_file(path: Path) -> None:
    """Size, the parts of a Shapefile and their declared lengths, what a GeoPackage really is."""
    suffix = path.suffix.lower()
    if suffix == ".shp":
        parts = {".shp": path}
        for part, meaning in ((".shx", _("its index")), (".dbf", _("its attributes"))):
            sibling = _sibling(path, part)
            if sibling is None:
                raise UnsafeFile(
                    "missing_part",
                    _(
                        "The Shapefile %(name)s comes without %(part)s (%(meaning)s): "
                        "a Shapefile is the .shp, .shx and .dbf files together."
                    )
                    % {"name": path.name, "part": path.stem + part, "meaning": meaning},
                )
            parts[part] = sibling
        check_size(sum(p.stat().st_size for p in parts.values()), path.name)
        for part in (parts[".shp"], parts[".shx"]):
            _check_shapefile_length(part)
        return
    check_size(path.stat().st_size, path.name)
    with path.open("rb") as handle:
        kind = content_kind(handle.read(8192))
    if suffix == ".gpkg" and kind != "sqlite":
        raise UnsafeFile("wrong_type", _("%(name)s is not a GeoPackage (SQLite) file.") % {"name": path.name})
    if suffix == ".gpkg":
        _check_geopackage_views(path)
    if suffix in (".geojson", ".json") and kind != "text":
        raise UnsafeFile("wrong_type", _("%(name)s is not GeoJSON text.") % {"name": path.name})


def _check_shapefile_length(path: Path) -> None:
    """A .shp or .shx states its own length: one cut short (a broken copy or download) is refused by name."""
    size = path.stat().st_size
    with path.open("rb") as handle:
        header = handle.read(100)
    if len(header) < 100 or struct.unpack(">i", header[:4])[0] != SHAPEFILE_CODE:
        raise UnsafeFile("wrong_type", _("%(name)s is not a Shapefile part.") % {"name": path.name})
    declared = struct.unpack(">i", header[24:28])[0] * 2  # in 16-bit words
    if size < declared:
        raise UnsafeFile(
            "truncated",
            _("%(name)s is cut short: %(size)d of its %(declared)d bytes.")
            % {"name": path.name, "size": size, "declared": declared},
        )


def _check_geopackage_views(path: Path) -> None:
    """
    A GeoPackage layer may be an SQL view, which GDAL runs as soon as it lists the layers, however long
    it takes (one sorting an endless recursive query never answers): only tables are read.
    """
    try:
        with sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro&immutable=1", uri=True) as database:
            views = database.execute(
                "SELECT name FROM sqlite_master WHERE type = 'view' AND name IN "
                "(SELECT table_name FROM gpkg_contents UNION SELECT table_name FROM gpkg_geometry_columns)"
            ).fetchall()
    except sqlite3.Error as exc:
        raise UnsafeFile("unreadable", _("The file cannot be read: %(reason)s") % {"reason": exc}) from None
    if views:
        raise UnsafeFile(
            "gpkg_view", _("Layer %(layer)s is an SQL view; export it as a table first.") % {"layer": views[0][0]}
        )


def _read_features(path: Path, options: BoundaryFileOptions, report: ImportReport) -> list[StagedFeature]:
    layer = _choose_layer(path, options.layer)
    limit = settings.GEOGRID_MAX_BOUNDARY_FEATURES
    try:
        with warnings.catch_warnings():
            # GDAL passes unclosed rings through with a warning; the report names them per feature.
            warnings.filterwarnings("ignore", message="Non closed ring", category=RuntimeWarning)
            # One feature more than the limit is enough to refuse the file; more is never read.
            meta, _fids, wkb_geometries, field_data = pyogrio.raw.read(
                path, layer=layer, encoding=options.encoding, max_features=limit + 1
            )
    except Exception as exc:  # GDAL raises many error types for unreadable files
        raise BoundaryFileError("unreadable", _("The file cannot be read: %(reason)s") % {"reason": exc}) from exc
    if wkb_geometries is not None and len(wkb_geometries) > limit:
        raise BoundaryFileError("too_many_features", _("The file has more than %(limit)d features.") % {"limit": limit})

    fields = list(meta["fields"])
    wanted = {"--code-field": options.code_field, "--name-field": options.name_field}
    if options.parent_field:
        wanted["--parent-field"] = options.parent_field
    for option, name in wanted.items():
        if name not in fields:
            raise BoundaryFileError(
                "missing_field",
                _("Field %(field)s (%(option)s) is not in the file; its fields are: %(fields)s")
                % {"field": name, "option": option, "fields": ", ".join(fields) or "-"},
            )
    if wkb_geometries is None or len(wkb_geometries) == 0:
        raise BoundaryFileError("empty", _("The file has no features."))

    source_crs = _source_crs(meta.get("crs"), options.source_srid)
    transformer = None
    target = CRS.from_epsg(4326)
    # CGCS2000 is treated as equal to WGS-84 (their difference is centimetres), so no datum shift.
    if not (source_crs.equals(target) or source_crs.to_epsg() == 4490):
        transformer = Transformer.from_crs(source_crs, target, always_xy=True)

    column = {name: field_data[index] for index, name in enumerate(fields)}
    staged = []
    vertices = 0
    for index, wkb in enumerate(wkb_geometries):
        row = index + 1
        code = _text(column[options.code_field][index])
        feature = StagedFeature(
            row=row,
            code=code,
            name=_text(column[options.name_field][index]),
            parent_code=_text(column[options.parent_field][index]) if options.parent_field else "",
            ewkb=None,
        )
        staged.append(feature)
        geometry = _parse_geometry(wkb, row, code, options.fix_invalid, report)
        if geometry is None:
            continue
        count = shapely.get_num_coordinates(geometry)
        vertices += count
        if vertices > settings.GEOGRID_MAX_FILE_VERTICES:
            raise BoundaryFileError(
                "too_many_vertices",
                _("The file has more than %(limit)d vertices.") % {"limit": settings.GEOGRID_MAX_FILE_VERTICES},
            )
        if count > settings.GEOGRID_MAX_GEOMETRY_VERTICES:
            report.add(
                "too_many_vertices",
                _("The geometry has %(count)d vertices; at most %(limit)d are accepted (simplify it).")
                % {"count": count, "limit": settings.GEOGRID_MAX_GEOMETRY_VERTICES},
                row=row,
                code=code,
            )
            continue
        if transformer is not None:
            geometry = shapely.transform(
                geometry, lambda xy: np.column_stack(transformer.transform(xy[:, 0], xy[:, 1]))
            )
        if geometry.is_empty:
            report.add("geometry_empty", _("The geometry is empty."), row=row, code=code)
            continue
        feature.ewkb = shapely.to_wkb(shapely.set_srid(geometry, 4326), hex=True, include_srid=True)
    return staged


def _parse_geometry(wkb, row: int, code: str, fix_invalid: bool, report: ImportReport):
    if wkb is None:
        report.add("geometry_missing", _("The feature has no geometry."), row=row, code=code)
        return None
    try:
        geometry = shapely.from_wkb(wkb)
    except shapely.errors.GEOSException as exc:
        if not fix_invalid:
            report.add(
                "geometry_unreadable",
                _("The geometry cannot be read: %(reason)s (--fix-invalid may repair it)") % {"reason": exc},
                row=row,
                code=code,
            )
            return None
        geometry = shapely.from_wkb(wkb, on_invalid="fix")
        if geometry is None:
            report.add(
                "geometry_unreadable",
                _("The geometry cannot be read: %(reason)s") % {"reason": exc},
                row=row,
                code=code,
            )
            return None
        report.add(
            "geometry_repaired",
            _("Repaired an unreadable geometry: %(reason)s") % {"reason": exc},
            row=row,
            code=code,
            severity=WARNING,
        )
    if geometry.geom_type not in ("Polygon", "MultiPolygon"):
        report.add(
            "geometry_type",
            _("The geometry is a %(type)s; only Polygon and MultiPolygon are grid units.")
            % {"type": geometry.geom_type},
            row=row,
            code=code,
        )
        return None
    return shapely.force_2d(geometry)

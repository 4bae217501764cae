"""The corpus of broken and hostile files, each with the refusal every entry point must answer."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tests.hostile import corpus

# --- CSV and XLSX: household and building imports ----------------------------------------------------

HEADER = ["户号", "地址", "经度", "纬度", "姓名"]
ROWS = [HEADER, ["H1", "西南路1号", "116.385", "39.905", "张伟"], ["H2", "西南路2号", "116.386", "39.906", "王芳"]]


@dataclass
class TableCase:
    name: str  # the file's name, suffix included
    kind: str  # the kind of the file-level error every entry point must answer
    at_upload: bool  # the API refuses the upload itself (400) rather than its import job
    encoding: str | None = None
    settings: dict = field(default_factory=dict)


def _truncated_utf8() -> bytes:
    data = corpus.csv_bytes([*ROWS, ["H3", "东大街3号", "116.41", "39.93", "刘洋"]])
    return data[: data.rindex("刘".encode()) + 2]  # two of the character's three bytes


def _corrupt_member() -> bytes:
    """A workbook whose worksheet's compressed bytes are damaged (its directory is intact)."""
    data = bytearray(corpus.xlsx_with_sheet(ROWS, corpus.member(corpus.XLSX_SHEET, b"<x/>" * 5000)))
    start = data.index(corpus.XLSX_SHEET.encode()) + len(corpus.XLSX_SHEET)  # the local header's name
    data[start + 5 : start + 40] = b"\xff" * 35
    return bytes(data)


# How each file is made (from ROWS, so that a reader that got past the defect would find good columns).
TABLE_MAKERS = {
    "empty.csv": lambda: b"",
    "empty.xlsx": lambda: b"",
    "truncated.xlsx": lambda: corpus.xlsx_bytes(ROWS)[:2000],
    "truncated_utf8.csv": _truncated_utf8,
    "gbk_claimed_utf8.csv": lambda: corpus.csv_bytes(ROWS, "gbk"),
    "gbk_unclaimed.csv": lambda: corpus.csv_bytes(ROWS, "gbk"),
    "utf8_claimed_gbk.csv": lambda: corpus.csv_bytes(ROWS),
    "garbage.csv": lambda: corpus.garbage(100_000),
    "high_bytes.csv": lambda: bytes(0x80 | b for b in corpus.garbage(100_000)),
    "xlsx_named.csv": lambda: corpus.xlsx_bytes(ROWS),
    "csv_named.xlsx": lambda: corpus.csv_bytes(ROWS),
    "bomb.xlsx": lambda: corpus.xlsx_with_sheet(ROWS, corpus.sheet_bomb(240)),  # 3.75 GB of rows
    "ratio_bomb.xlsx": lambda: corpus.xlsx_with_sheet(ROWS, corpus.sheet_bomb(16)),  # 256 MB
    "declares_1gb.xlsx": lambda: corpus.xlsx_with_sheet(
        ROWS, corpus.declared_member(corpus.XLSX_SHEET, b"<x/>", 1100 * corpus.MB)
    ),
    "many_members.xlsx": lambda: corpus.xlsx_with_sheet(
        ROWS, corpus.member(corpus.XLSX_SHEET, b""), [corpus.member(f"xl/m/{i}.xml", b"") for i in range(1001)]
    ),
    "traversal.xlsx": lambda: corpus.xlsx_with_sheet(
        ROWS, corpus.member(corpus.XLSX_SHEET, b""), [corpus.member("../../etc/passwd", b"root::0:0")]
    ),
    "link.xlsx": lambda: corpus.xlsx_with_sheet(
        ROWS,
        corpus.member(corpus.XLSX_SHEET, b""),
        [dataclasses.replace(corpus.member("xl/link", b"/etc/passwd"), mode=0o120777)],
    ),
    "billion_laughs.xlsx": lambda: corpus.xlsx_with_sheet(ROWS, corpus.billion_laughs_sheet(ROWS)),
    "claims_3m_rows.xlsx": lambda: corpus.xlsx_with_sheet(ROWS, corpus.sheet_with_dimension(ROWS, "A1:E3000000")),
    "row_gap.xlsx": lambda: corpus.xlsx_with_sheet(ROWS, corpus.sheet_with_gap(ROWS, 5000)),
    "corrupt_member.xlsx": _corrupt_member,
    "rows_1001.csv": lambda: corpus.csv_bytes([HEADER] + [ROWS[1]] * 1001),
    "ragged_1001.csv": lambda: corpus.csv_bytes([HEADER] + [ROWS[1], ROWS[1][:2]] * 501),
}

SMALL_ROW_LIMIT = {"GEOGRID_MAX_IMPORT_ROWS": 1000}
TABLE_CASES = [
    TableCase("empty.csv", "empty", True),
    TableCase("empty.xlsx", "empty", True),
    TableCase("truncated.xlsx", "unreadable", True),
    TableCase("truncated_utf8.csv", "encoding", False),
    TableCase("gbk_claimed_utf8.csv", "encoding", False, encoding="utf-8"),
    TableCase("gbk_unclaimed.csv", "encoding", False),
    TableCase("utf8_claimed_gbk.csv", "encoding", False, encoding="gbk"),
    TableCase("garbage.csv", "wrong_type", True),
    TableCase("high_bytes.csv", "encoding", False),
    TableCase("xlsx_named.csv", "wrong_type", True),
    TableCase("csv_named.xlsx", "wrong_type", True),
    TableCase("bomb.xlsx", "too_large_uncompressed", True),
    TableCase("ratio_bomb.xlsx", "compression_ratio", True),
    TableCase("declares_1gb.xlsx", "too_large_uncompressed", True),
    TableCase("many_members.xlsx", "too_many_members", True),
    TableCase("traversal.xlsx", "unsafe_name", True),
    TableCase("link.xlsx", "unsafe_name", True),
    TableCase("billion_laughs.xlsx", "unreadable", False),
    TableCase("claims_3m_rows.xlsx", "too_many_rows", False),
    TableCase("row_gap.xlsx", "too_many_rows", False, settings=SMALL_ROW_LIMIT),
    TableCase("corrupt_member.xlsx", "unreadable", False),
    TableCase("rows_1001.csv", "too_many_rows", False, settings=SMALL_ROW_LIMIT),
    TableCase("ragged_1001.csv", "too_many_rows", False, settings=SMALL_ROW_LIMIT),
]
TABLE_BOMBS = ["bomb.xlsx", "ratio_bomb.xlsx", "declares_1gb.xlsx"]


# Run again under the memory cap: the workbooks, whose readers would unpack them.
TABLE_CAPPED = [case.name for case in TABLE_CASES if case.name.endswith(".xlsx") and not case.settings]


def build_table_files(directory: Path) -> dict[str, Path]:
    files = {}
    for name, make in TABLE_MAKERS.items():
        files[name] = directory / name
        files[name].write_bytes(make())
    return files


# --- Shapefiles, GeoPackages, GeoJSON and zip archives: the boundary import -------------------------

FIELDS = {"code_field": "CODE", "name_field": "NAME"}
# The same as options of `import_boundaries`, asking for the JSON report and a commit.
COMMAND_OPTIONS = ["--level=grid", "--code-field=CODE", "--name-field=NAME", "--json", "--commit"]
ABSOLUTE = "/tmp/geogrid-hostile-absolute.shp"  # noqa: S108 - a name an archive must not be allowed to write


@dataclass
class BoundaryCase:
    name: str
    make: Callable[[Path], Path]  # writes the file (and its siblings) into the directory, returns what to import
    kind: str
    row: int | None = None  # the feature the error is about; None: the whole file
    settings: dict = field(default_factory=dict)


def _bytes(name: str, make: Callable[[Path], bytes]) -> Callable[[Path], Path]:
    def write(directory: Path) -> Path:
        path = directory / name
        path.write_bytes(make(directory))
        return path

    return write


def _shapefile(rows: list[dict], *, cut: str | None = None, leave_out: str | None = None, garbage: bool = False):
    """A Shapefile on disk, with one of its parts cut in half, left out, or its .shp replaced by noise."""

    def write(directory: Path) -> Path:
        path = corpus.write_frame(directory / "cells.shp", rows)
        if cut:
            part = path.with_suffix(cut)
            part.write_bytes(part.read_bytes()[: part.stat().st_size // 2])
        if leave_out:
            path.with_suffix(leave_out).unlink()
        if garbage:
            path.write_bytes(corpus.garbage(path.stat().st_size))
        return path

    return write


def _zipped(stem: str, *, leave_out=None, extra=(), replace=None) -> Callable[[Path], bytes]:
    """A zipped Shapefile; `extra` members added, `replace(members)` rewriting its member list."""

    def make(directory: Path) -> bytes:
        parts = corpus.shapefile_parts(directory, stem, corpus.grid_rows(3))
        members = [corpus.member(f"{stem}{suffix}", data) for suffix, data in parts.items() if suffix != leave_out]
        if replace:
            members = replace(members)
        return corpus.raw_zip([*members, *extra])

    return make


def _zero_bomb(blocks: int) -> Callable[[list], list]:
    """The .shp member replaced by one of `blocks` times 16 MB of zeros."""

    def replace(members: list) -> list:
        bomb = corpus.bomb_member("cells.shp", b"", b"\0" * (16 * corpus.MB), blocks, b"")
        return [bomb if m.name == "cells.shp" else m for m in members]

    return replace


def _declared_dbf(members: list) -> list:
    return [corpus.declared_member(m.name, b"", 1100 * corpus.MB) if m.name.endswith(".dbf") else m for m in members]


def _geopackage(directory: Path) -> bytes:
    return corpus.write_frame(directory / "inner.gpkg", corpus.grid_rows(2), driver="GPKG").read_bytes()


def _geojson(directory: Path) -> bytes:
    return corpus.write_frame(directory / "inner.geojson", corpus.grid_rows(5), driver="GeoJSON").read_bytes()


def _link(members: list) -> list:
    return [*members, dataclasses.replace(corpus.member("cells.cpg", b"/etc/passwd"), mode=0o120777)]


BOUNDARY_CASES = [
    BoundaryCase("empty.geojson", _bytes("empty.geojson", lambda d: b""), "empty"),
    BoundaryCase("empty.zip", _bytes("empty.zip", lambda d: b""), "empty"),
    BoundaryCase("truncated.shp", _shapefile(corpus.grid_rows(30), cut=".shp"), "truncated"),
    BoundaryCase("truncated.shx", _shapefile(corpus.grid_rows(30), cut=".shx"), "truncated"),
    BoundaryCase("truncated.gpkg", _bytes("cells.gpkg", lambda d: _geopackage(d)[:40_000]), "unreadable"),
    BoundaryCase("truncated.geojson", _bytes("cells.geojson", lambda d: _geojson(d)[:700]), "unreadable"),
    BoundaryCase("garbage.geojson", _bytes("cells.geojson", lambda d: corpus.garbage(50_000)), "wrong_type"),
    BoundaryCase("garbage.shp", _shapefile(corpus.grid_rows(3), garbage=True), "wrong_type"),
    BoundaryCase("geojson_named.gpkg", _bytes("cells.gpkg", _geojson), "wrong_type"),
    BoundaryCase("gpkg_named.geojson", _bytes("cells.geojson", _geopackage), "wrong_type"),
    BoundaryCase("no_dbf.shp", _shapefile(corpus.grid_rows(3), leave_out=".dbf"), "missing_part"),
    BoundaryCase("no_dbf.zip", _bytes("cells.zip", _zipped("cells", leave_out=".dbf")), "missing_part"),
    BoundaryCase("no_shx.zip", _bytes("cells.zip", _zipped("cells", leave_out=".shx")), "missing_part"),
    BoundaryCase(
        "two_layers.zip",
        _bytes("cells.zip", _zipped("cells", extra=[corpus.member("b.geojson", b"{}")])),
        "archive_contents",
    ),
    BoundaryCase("bomb.zip", _bytes("cells.zip", _zipped("cells", replace=_zero_bomb(240))), "too_large_uncompressed"),
    BoundaryCase("ratio_bomb.zip", _bytes("cells.zip", _zipped("cells", replace=_zero_bomb(16))), "compression_ratio"),
    BoundaryCase(
        "declares_1gb.zip", _bytes("cells.zip", _zipped("cells", replace=_declared_dbf)), "too_large_uncompressed"
    ),
    BoundaryCase(
        "many_members.zip",
        _bytes("cells.zip", _zipped("cells", extra=[corpus.member(f"x/{i}.txt", b"") for i in range(1001)])),
        "too_many_members",
    ),
    BoundaryCase(
        "traversal.zip",
        _bytes("cells.zip", _zipped("cells", extra=[corpus.member("../../etc/passwd", b"root::0:0")])),
        "unsafe_name",
    ),
    BoundaryCase(
        "absolute.zip",
        _bytes("cells.zip", _zipped("cells", extra=[corpus.member(ABSOLUTE, b"x")])),
        "unsafe_name",
    ),
    BoundaryCase("link.zip", _bytes("cells.zip", _zipped("cells", replace=_link)), "unsafe_name"),
    BoundaryCase(
        "million_vertices.shp",
        lambda d: corpus.write_frame(d / "big.shp", [{**corpus.grid_rows(1)[0], "geometry": corpus.circle(1_000_000)}]),
        "too_many_vertices",
        row=1,
    ),
    BoundaryCase(
        "file_vertices.geojson",
        lambda d: corpus.write_frame(d / "cells.geojson", corpus.grid_rows(30), driver="GeoJSON"),
        "too_many_vertices",
        settings={"GEOGRID_MAX_FILE_VERTICES": 100},  # each cell has 5
    ),
    BoundaryCase(
        "features.geojson",
        lambda d: corpus.write_frame(d / "cells.geojson", corpus.grid_rows(11), driver="GeoJSON"),
        "too_many_features",
        settings={"GEOGRID_MAX_BOUNDARY_FEATURES": 10},
    ),
    BoundaryCase(
        "nested_200.geojson", _bytes("n.geojson", lambda d: corpus.nested_collection_geojson(200)), "geometry_type", 1
    ),
    BoundaryCase(
        "nested_5000.geojson", _bytes("n.geojson", lambda d: corpus.nested_collection_geojson(5000)), "unreadable"
    ),
    BoundaryCase(
        "nested_properties.geojson",
        _bytes("n.geojson", lambda d: corpus.nested_properties_geojson(100_000)),
        "unreadable",
    ),
    BoundaryCase("endless_view.gpkg", lambda d: corpus.geopackage_with_recursive_view(d / "cells.gpkg"), "gpkg_view"),
]
# Heavy enough to matter for memory or time if a check came too late: also run under the memory cap.
BOUNDARY_CAPPED = [
    "bomb.zip",
    "ratio_bomb.zip",
    "declares_1gb.zip",
    "million_vertices.shp",
    "nested_5000.geojson",
    "endless_view.gpkg",
]


def build_boundary_files(make_directory: Callable[[str], Path]) -> dict[str, Path]:
    return {case.name: case.make(make_directory(case.name.replace(".", "-"))) for case in BOUNDARY_CASES}

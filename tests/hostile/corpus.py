"""Broken and hostile files for the importers, built at test time: nothing big is kept in the repository."""

from __future__ import annotations

import io
import json
import random
import sqlite3
import struct
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely
from openpyxl import Workbook
from shapely.geometry import box

MB = 1024 * 1024
# Inside the small city of tests/conftest.py (the west street's south-west grid cell).
CELL = box(116.381, 39.901, 116.389, 39.919)
XLSX_SHEET = "xl/worksheets/sheet1.xml"
SHEET_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"


# --- zip archives written byte by byte, so that they can lie and be bombs ------------------------


@dataclass
class RawMember:
    """A zip member as stored: `data` is already compressed (method 8, raw deflate) or stored (method 0)."""

    name: str
    data: bytes
    size: int  # the uncompressed size the archive declares
    crc: int
    method: int = 8
    mode: int = 0o100644  # a regular file; 0o120777 makes it a symbolic link


def member(name: str, content: bytes) -> RawMember:
    """An honest member holding `content`."""
    compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
    data = compressor.compress(content) + compressor.flush()
    return RawMember(name=name, data=data, size=len(content), crc=zlib.crc32(content))


def raw_zip(members: list[RawMember], *, zip64: bool = False, claimed: int | None = None) -> bytes:
    """
    A zip archive declaring what the members say (every size stays under 4 GiB). With `zip64` its end
    is a zip64 record, as archives of many members have; `claimed` makes the end record lie about the count.
    """
    out = io.BytesIO()
    central = []
    for item in members:
        offset = out.tell()
        name = item.name.encode()
        common = (20, 0x800, item.method, 0, 0x21)  # version needed, flags (0x800: UTF-8 name), method, time, date
        sizes = (item.crc, len(item.data), item.size)
        out.write(struct.pack("<I5H3I2H", 0x04034B50, *common, *sizes, len(name), 0) + name + item.data)
        # Name length, extra, comment, disk, internal and external attributes (the Unix mode), local header.
        tail = (len(name), 0, 0, 0, 0, item.mode << 16, offset)
        central.append(struct.pack("<IH5H3I5HII", 0x02014B50, 0x031E, *common, *sizes, *tail) + name)
    start = out.tell()
    for entry in central:
        out.write(entry)
    count, size = len(members) if claimed is None else claimed, out.tell() - start
    if zip64:
        record = out.tell()
        out.write(struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, count, count, size, start))
        out.write(struct.pack("<IIQI", 0x07064B50, 0, record, 1))
        out.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0))
    else:
        out.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, count, count, size, start, 0))
    return out.getvalue()


def _gf2_times(matrix: list[int], vector: int) -> int:
    total, index = 0, 0
    while vector:
        if vector & 1:
            total ^= matrix[index]
        vector >>= 1
        index += 1
    return total


def crc32_combine(crc1: int, crc2: int, length2: int) -> int:
    """zlib's crc32_combine: the CRC-32 of A + B from those of A and B and the length of B."""
    if length2 == 0:
        return crc1
    odd = [0xEDB88320] + [1 << n for n in range(31)]  # the operator for one zero bit
    even = [_gf2_times(odd, odd[n]) for n in range(32)]  # two zero bits
    odd = [_gf2_times(even, even[n]) for n in range(32)]  # four zero bits
    while True:
        even = [_gf2_times(odd, odd[n]) for n in range(32)]
        if length2 & 1:
            crc1 = _gf2_times(even, crc1)
        length2 >>= 1
        if not length2:
            break
        odd = [_gf2_times(even, even[n]) for n in range(32)]
        if length2 & 1:
            crc1 = _gf2_times(odd, crc1)
        length2 >>= 1
        if not length2:
            break
    return crc1 ^ crc2


def bomb_member(name: str, prefix: bytes, block: bytes, count: int, suffix: bytes) -> RawMember:
    """
    An honest member of prefix + block * count + suffix, built without ever holding it: after a full
    flush deflate refers to nothing before, so the compressed block can be repeated as it is.
    Highly repetitive data compresses about 1000 times.
    """
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = compressor.compress(prefix) + compressor.flush(zlib.Z_FULL_FLUSH)
    body = compressor.compress(block) + compressor.flush(zlib.Z_FULL_FLUSH)
    tail = compressor.compress(suffix) + compressor.flush(zlib.Z_FINISH)
    crc, block_crc, block_length, times = zlib.crc32(prefix), zlib.crc32(block), len(block), count
    repeated_crc, repeated_length = 0, 0
    while times:  # CRC of block * count by doubling
        if times & 1:
            repeated_crc = crc32_combine(repeated_crc, block_crc, block_length)
            repeated_length += block_length
        times >>= 1
        if times:
            block_crc = crc32_combine(block_crc, block_crc, block_length)
            block_length *= 2
    crc = crc32_combine(crc, repeated_crc, repeated_length)
    crc = crc32_combine(crc, zlib.crc32(suffix), len(suffix))
    size = len(prefix) + len(block) * count + len(suffix)
    return RawMember(name=name, data=head + body * count + tail, size=size, crc=crc)


def declared_member(name: str, content: bytes, size: int) -> RawMember:
    """A member whose archive declares `size` bytes, far more than it holds."""
    honest = member(name, content)
    honest.size = size
    return honest


# --- spreadsheets ------------------------------------------------------------------------------------


def xlsx_bytes(rows: list[list]) -> bytes:
    workbook = Workbook()
    for row in rows:
        workbook.active.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def xlsx_members(rows: list[list]) -> list[RawMember]:
    """The members of a real workbook, to be rebuilt with one of them replaced."""
    with zipfile.ZipFile(io.BytesIO(xlsx_bytes(rows))) as archive:
        return [member(info.filename, archive.read(info)) for info in archive.infolist()]


def xlsx_with_sheet(rows: list[list], sheet: RawMember, extra: list[RawMember] = ()) -> bytes:
    members = [sheet if m.name == XLSX_SHEET else m for m in xlsx_members(rows)]
    return raw_zip([*members, *extra])


def sheet_bomb(blocks: int) -> RawMember:
    """A worksheet of identical rows expanding to `blocks` times 16 MB."""
    row = b'<row><c t="inlineStr"><is><t>x</t></is></c></row>'
    prefix = f'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="{SHEET_NS}"><sheetData>'.encode()
    return bomb_member(XLSX_SHEET, prefix, row * (16 * MB // len(row)), blocks, b"</sheetData></worksheet>")


def billion_laughs_sheet(rows: list[list]) -> RawMember:
    """The workbook's worksheet with a cell made of nested entities (a billion laughs once expanded)."""
    with zipfile.ZipFile(io.BytesIO(xlsx_bytes(rows))) as archive:
        sheet = archive.read(XLSX_SHEET).decode()
    entities = '<!ENTITY lol0 "lol">' + "".join(f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10))
    cell = f"<t>{rows[-1][-1]}</t>"
    assert cell in sheet
    body = sheet[sheet.index("<worksheet") :].replace(cell, "<t>&lol9;</t>", 1)
    return member(XLSX_SHEET, f'<?xml version="1.0"?><!DOCTYPE lolz [{entities}]>{body}'.encode())


def sheet_with_dimension(rows: list[list], dimension: str) -> RawMember:
    """The workbook's worksheet claiming another size (its <dimension ref>) than it has."""
    with zipfile.ZipFile(io.BytesIO(xlsx_bytes(rows))) as archive:
        sheet = archive.read(XLSX_SHEET).decode()
    start = sheet.index('<dimension ref="') + len('<dimension ref="')
    end = sheet.index('"', start)
    return member(XLSX_SHEET, (sheet[:start] + dimension + sheet[end:]).encode())


def sheet_with_gap(rows: list[list], far_row: int) -> RawMember:
    """The workbook's worksheet with one more row, numbered `far_row`: readers fill the gap with empty rows."""
    with zipfile.ZipFile(io.BytesIO(xlsx_bytes(rows))) as archive:
        sheet = archive.read(XLSX_SHEET).decode()
    far = f'<row r="{far_row}"><c r="A{far_row}" t="inlineStr"><is><t>far</t></is></c></row>'
    return member(XLSX_SHEET, sheet.replace("</sheetData>", far + "</sheetData>").encode())


def csv_bytes(rows: list[list], encoding: str = "utf-8") -> bytes:
    return "".join(",".join(str(cell) for cell in row) + "\r\n" for row in rows).encode(encoding)


def garbage(size: int, seed: int = 7) -> bytes:
    return random.Random(seed).randbytes(size)  # noqa: S311 - test data


# --- boundary files ----------------------------------------------------------------------------------


def write_frame(path: Path, rows: list[dict], **kwargs) -> Path:
    gpd.GeoDataFrame(rows, geometry="geometry", crs="EPSG:4326").to_file(path, engine="pyogrio", **kwargs)
    return path


def grid_rows(count: int = 1) -> list[dict]:
    return [{"CODE": f"1101010010010{i:02d}", "NAME": f"网格{i}", "geometry": CELL} for i in range(1, count + 1)]


def shapefile_parts(directory: Path, stem: str, rows: list[dict]) -> dict[str, bytes]:
    """The .shp, .shx, .dbf and .prj of a Shapefile, as bytes by suffix."""
    path = write_frame(directory / f"{stem}.shp", rows)
    return {suffix: path.with_suffix(suffix).read_bytes() for suffix in (".shp", ".shx", ".dbf", ".prj")}


def zipped_shapefile(directory: Path, stem: str, rows: list[dict], *, leave_out: str | None = None) -> bytes:
    parts = shapefile_parts(directory, stem, rows)
    return raw_zip([member(f"{stem}/{stem}{suffix}", data) for suffix, data in parts.items() if suffix != leave_out])


def circle(vertices: int) -> shapely.Polygon:
    """A polygon of `vertices` vertices inside CELL."""
    angles = np.linspace(0, 2 * np.pi, vertices, endpoint=False)
    x0, y0, x1, y1 = CELL.bounds
    cx, cy, radius = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2 * 0.9
    return shapely.Polygon(np.column_stack([cx + radius * np.cos(angles), cy + radius * np.sin(angles)]))


def nested_collection_geojson(depth: int) -> bytes:
    """A FeatureCollection whose one geometry is a polygon inside `depth` nested GeometryCollections."""
    polygon = json.dumps(shapely.geometry.mapping(CELL))
    geometry = '{"type":"GeometryCollection","geometries":[' * depth + polygon + "]}" * depth
    feature = '{"type":"Feature","properties":{"CODE":"110101001001001","NAME":"n"},"geometry":' + geometry + "}"
    return ('{"type":"FeatureCollection","features":[' + feature + "]}").encode()


def nested_properties_geojson(depth: int) -> bytes:
    geometry = json.dumps(shapely.geometry.mapping(CELL))
    nested = "[" * depth + "]" * depth
    feature = f'{{"type":"Feature","properties":{{"CODE":"110101001001001","NAME":{nested}}},"geometry":{geometry}}}'
    return ('{"type":"FeatureCollection","features":[' + feature + "]}").encode()


def geopackage_with_recursive_view(path: Path) -> Path:
    """A GeoPackage whose second layer is a view that never answers (it sorts the rows of an endless recursion)."""
    write_frame(path, grid_rows(1), driver="GPKG", layer="cells")
    with sqlite3.connect(path) as database:
        database.execute(
            "CREATE VIEW endless AS WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) "
            'SELECT n.i AS fid, c.geom, c."CODE", c."NAME" FROM n, cells c ORDER BY n.i DESC'
        )
        database.execute(
            "INSERT INTO gpkg_contents (table_name, data_type, identifier, srs_id) "
            "VALUES ('endless', 'features', 'endless', 4326)"
        )
        database.execute(
            "INSERT INTO gpkg_geometry_columns (table_name, column_name, geometry_type_name, srs_id, z, m) "
            "VALUES ('endless', 'geom', 'POLYGON', 4326, 0, 0)"
        )
    return path

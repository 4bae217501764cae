"""H3 cells of incidents: the finest cell stored on each incident, coarser ones derived in SQL."""

from __future__ import annotations

import io

import h3
from django.db import connection, transaction

FINEST = 10
RESOLUTIONS = (7, 8, 9, 10)
# Resolution by zoom: about a few dozen hexagons across a tile.
_BY_ZOOM = {11: 7, 12: 8, 13: 9, 14: 9}
# The mean edge of a cell per resolution, in metres (H3's tables); a tile's query reaches this far out
# so hexagons across its edge count every incident they hold.
EDGE_METRES = {7: 1406.5, 8: 531.4, 9: 200.8, 10: 75.9}


def resolution_for_zoom(z: int) -> int:
    if z <= 11:
        return 7
    return _BY_ZOOM.get(z, FINEST)


def cell_for(lon: float, lat: float) -> int:
    return h3.str_to_int(h3.latlng_to_cell(lat, lon, FINEST))


def parent_sql(column: str, resolution: int) -> str:
    """SQL for the parent of an H3 cell (bigint) at a coarser resolution: its resolution bits set and
    the digits below it filled with 7, as H3 defines an index."""
    r = int(resolution)
    return f"((({column} & ~(15::bigint << 52)) | ({r}::bigint << 52)) | ((1::bigint << {3 * (15 - r)}) - 1))"


def parents(cell: int) -> list[int]:
    text = h3.int_to_str(cell)
    return [h3.str_to_int(h3.cell_to_parent(text, r)) for r in RESOLUTIONS]


def _outline_wkt(cell: int) -> str:
    ring = [(lng, lat) for lat, lng in h3.cell_to_boundary(h3.int_to_str(cell))]
    ring.append(ring[0])
    return "SRID=4326;POLYGON((" + ",".join(f"{x:.7f} {y:.7f}" for x, y in ring) + "))"


def hexagons_ensure(cells) -> None:
    """Stores the outlines of the cells (and their parents) not stored yet; one statement."""
    wanted = {parent for cell in cells for parent in parents(cell)}
    if not wanted:
        return
    rows = [(cell, h3.get_resolution(h3.int_to_str(cell)), _outline_wkt(cell)) for cell in sorted(wanted)]
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO layers_hexagon (cell, resolution, geom) SELECT c, r, ST_GeomFromEWKT(g) "
            "FROM unnest(%s::bigint[], %s::smallint[], %s::text[]) AS t(c, r, g) ON CONFLICT (cell) DO NOTHING",
            [[r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]],
        )


@transaction.atomic
def hexagons_sync(*, chunk: int = 200_000) -> dict[str, int]:
    """
    Fills the H3 cell of incidents written in bulk (demo, imports) and stores the outlines of every
    cell holding an incident. Incidents created through the services have both already.
    """
    filled = 0
    with connection.cursor() as cursor:
        while True:
            cursor.execute(
                "SELECT id, ST_X(location), ST_Y(location) FROM incidents_incident WHERE h3 IS NULL LIMIT %s", [chunk]
            )
            rows = cursor.fetchall()
            if not rows:
                break
            buffer = io.StringIO()
            for pk, lon, lat in rows:
                buffer.write(f"{pk}\t{cell_for(lon, lat)}\n")
            buffer.seek(0)
            cursor.execute("CREATE TEMP TABLE IF NOT EXISTS h3_fill (id bigint, h3 bigint) ON COMMIT DROP")
            cursor.execute("TRUNCATE h3_fill")
            with cursor.cursor.copy("COPY h3_fill (id, h3) FROM STDIN") as copy:
                copy.write(buffer.getvalue())
            cursor.execute("UPDATE incidents_incident i SET h3 = f.h3 FROM h3_fill f WHERE i.id = f.id")
            filled += len(rows)
        missing = " UNION ".join(
            f"SELECT DISTINCT {parent_sql('h3', r)} AS cell FROM incidents_incident WHERE h3 IS NOT NULL"
            for r in RESOLUTIONS
        )
        cursor.execute(
            f"SELECT m.cell FROM ({missing}) m LEFT JOIN layers_hexagon h ON h.cell = m.cell WHERE h.cell IS NULL"
        )
        cells = [row[0] for row in cursor.fetchall()]
        if cells:
            buffer = io.StringIO()
            for cell in cells:
                buffer.write(f"{cell}\t{h3.get_resolution(h3.int_to_str(cell))}\t{_outline_wkt(cell)}\n")
            buffer.seek(0)
            with cursor.cursor.copy("COPY layers_hexagon (cell, resolution, geom) FROM STDIN") as copy:
                copy.write(buffer.getvalue())
    return {"incidents": filled, "hexagons": len(cells)}

"""PostGIS tile functions as ORM expressions, and the tile's bounds computed in Python."""

from __future__ import annotations

import math

from django.contrib.gis.db.models import GeometryField
from django.contrib.gis.geos import Polygon
from django.db.models import Func

EXTENT = 4096  # the tile's internal grid (MVT default)
BUFFER = 64  # of those units, around the tile, so strokes and labels do not break at tile edges
WORLD = 40075016.68557849  # EPSG:3857 width in metres


def tile_bounds_4326(z: int, x: int, y: int, *, buffer: float = BUFFER / EXTENT) -> Polygon:
    """The tile with its buffer as a WGS-84 polygon, for the index condition (&&) of the layer's query."""
    n = 2.0**z

    def lon(tx: float) -> float:
        return tx / n * 360.0 - 180.0

    def lat(ty: float) -> float:
        return math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * ty / n))))

    west, east = lon(x - buffer), lon(x + 1 + buffer)
    north, south = lat(max(y - buffer, 0)), lat(min(y + 1 + buffer, n))
    return Polygon.from_bbox((max(west, -180), max(south, -85.06), min(east, 180), min(north, 85.06)))


def pixel_metres(z: int) -> float:
    """The size of one of the tile's grid units, in metres at the equator (EPSG:3857)."""
    return WORLD / (2.0**z) / EXTENT


def valid_tile(z: int, x: int, y: int) -> bool:
    return 0 <= z <= 22 and 0 <= x < 2**z and 0 <= y < 2**z


def tile_bounds_sql(z: int, x: int, y: int, *, metres: float = 0) -> tuple[str, list]:
    """
    The tile with its buffer (and `metres` more on the ground) as a WGS-84 box, computed by PostGIS
    from z, x and y, clipped to the Mercator square as tile_bounds_4326 is: a tile's statement then
    depends on x and y only through these parameters, so the statement built for one tile serves
    every tile of its zoom (layers.registry). A ground distance d at latitude φ spans d / cos φ in
    EPSG:3857; φ is taken at the tile's centre.
    """
    margin, params = f"({WORLD!r} / 2 ^ %s * {BUFFER / EXTENT!r})", [z]
    if metres:
        margin = f"({margin} + {float(metres)!r} / cos(atan(sinh(pi() * (1 - 2 * (%s + 0.5) / 2 ^ %s)))))"
        params += [y, z]
    half = WORLD / 2
    sql = (
        f"ST_Transform(ST_ClipByBox2D(ST_Expand(ST_TileEnvelope(%s, %s, %s), {margin}), "
        f"ST_MakeEnvelope({-half!r}, {-half!r}, {half!r}, {half!r})), 4326)"
    )
    return sql, [z, x, y, *params]


class TileBounds(Func):
    """tile_bounds_sql as an ORM expression, for `geom__bboverlaps=`."""

    output_field = GeometryField(srid=4326)

    def __init__(self, z: int, x: int, y: int, *, metres: float = 0):
        super().__init__()
        self.z, self.x, self.y, self.metres = z, x, y, metres

    def as_sql(self, compiler, connection, **extra_context):
        return tile_bounds_sql(self.z, self.x, self.y, metres=self.metres)

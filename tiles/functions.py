"""The tile's grid and bounds: its size in metres, and its buffered bounds as SQL and as an ORM expression."""

from __future__ import annotations

from django.contrib.gis.db.models import GeometryField
from django.db.models import Func

EXTENT = 4096  # the tile's internal grid (MVT default)
BUFFER = 64  # of those units, around the tile, so strokes and labels do not break at tile edges
WORLD = 40075016.68557849  # EPSG:3857 width in metres


def pixel_metres(z: int) -> float:
    """The size of one of the tile's grid units, in metres at the equator (EPSG:3857)."""
    return WORLD / (2.0**z) / EXTENT


def valid_tile(z: int, x: int, y: int) -> bool:
    return 0 <= z <= 22 and 0 <= x < 2**z and 0 <= y < 2**z


def tile_bounds_sql(z: int, x: int, y: int, *, metres: float = 0) -> tuple[str, list]:
    """
    The tile with its buffer (and `metres` more on the ground) as a WGS-84 box, computed by PostGIS
    from z, x and y, clipped to the Mercator square: a tile's statement then
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

"""PostGIS tile functions as ORM expressions, and the tile's bounds computed in Python."""

from __future__ import annotations

import math

from django.contrib.gis.geos import Polygon

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

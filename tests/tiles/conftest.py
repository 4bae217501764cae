"""Tiles of the small city: which tiles cover it, and decoding what the server sends."""

import math

import mapbox_vector_tile
import pytest

from tests.conftest import X0, X1, Y0, Y1
from tests.incidents.conftest import report, staff  # noqa: F401  (fixtures)


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2**z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return x, y


def tile_position(lon: float, lat: float, z: int, x: int, y: int, extent: int = 4096) -> tuple[float, float]:
    """Where a point falls on tile (z, x, y), in the tile's own units (origin top left)."""
    n = 2**z
    px = ((lon + 180) / 360 * n - x) * extent
    py = ((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n - y) * extent
    return px, py


def covering(z: int):
    """Every tile of zoom z the small city touches."""
    x0, y0 = tile_of(X0, Y1, z)
    x1, y1 = tile_of(X1, Y0, z)
    return [(x, y) for x in range(x0, x1 + 1) for y in range(y0, y1 + 1)]


def decode(content: bytes) -> dict:
    return mapbox_vector_tile.decode(content, default_options={"y_coord_down": True})


@pytest.fixture
def fetch():
    """fetch(client, layer, z, **params) -> {mvt layer: [features]} merged over the tiles covering the city."""

    def get(client, layer, z, **params):
        merged: dict[str, list] = {}
        for x, y in covering(z):
            response = client.get(f"/tiles/{layer}/{z}/{x}/{y}.mvt", params)
            assert response.status_code in (200, 204), response.content
            if response.status_code == 200:
                for name, data in decode(response.content).items():
                    merged.setdefault(name, []).extend(data["features"])
        return merged

    return get

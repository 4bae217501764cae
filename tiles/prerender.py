"""Building the low-zoom tiles ahead into the tile cache, for the viewers most maps are opened by."""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from django.conf import settings
from django.contrib.gis.db.models import Extent
from django.http import QueryDict
from tqdm import tqdm

from core.scope import Scope

# Mercator's limit: tiles stop at these latitudes.
MAX_LATITUDE = 85.0511287798


@dataclass(frozen=True)
class Viewer:
    """A scope many users share (so their tiles are one set in the cache) and the extent it covers."""

    label: str
    scope: Scope
    bounds: tuple[float, float, float, float]


def _extent(scope: Scope) -> tuple[float, float, float, float] | None:
    from boundaries.models import GridUnit
    from boundaries.selectors import generation_active, valid_at_q

    generation = generation_active()
    if generation is None:
        return None
    return GridUnit.objects.filter(valid_at_q(generation)).filter(scope.q("code")).aggregate(e=Extent("geom"))["e"]


def _unit_scope(code: str) -> Scope:
    # What a user bound to the unit sees; tiles do not depend on permissions, only on the units seen.
    return Scope.build(user_id=None, view_codes=[code], permissions=["*"])


def common_viewers(*, unit: str | None = None) -> list[Viewer]:
    """
    Whose tiles to build: the global roles (administrators), and the users bound to the city or to
    one district of the active grid; or, given `unit`, only the users bound to that unit.
    """
    from boundaries.models import GridUnit, Level
    from boundaries.selectors import generation_active, valid_at_q

    if unit is not None:
        scopes = [(unit, _unit_scope(unit))]
    else:
        scopes = [("all", Scope.everything())]
        generation = generation_active()
        if generation is not None:
            codes = (
                GridUnit.objects.filter(valid_at_q(generation), level__in=[Level.CITY, Level.DISTRICT])
                .order_by("level", "code")
                .values_list("code", flat=True)
            )
            scopes += [(code, _unit_scope(code)) for code in codes]
    viewers = []
    for label, scope in scopes:
        bounds = _extent(scope)
        if bounds is not None:
            viewers.append(Viewer(label, scope, tuple(bounds)))
    return viewers


def _tile_x(lon: float, z: int) -> int:
    return min(2**z - 1, max(0, int((lon + 180.0) / 360.0 * 2**z)))


def _tile_y(lat: float, z: int) -> int:
    lat = max(-MAX_LATITUDE, min(MAX_LATITUDE, lat))
    y = (1.0 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2.0 * 2**z
    return min(2**z - 1, max(0, int(y)))


def covering_tiles(bounds: tuple[float, float, float, float], z: int) -> Iterator[tuple[int, int]]:
    """The tiles of zoom z a (west, south, east, north) box touches."""
    west, south, east, north = bounds
    for x in range(_tile_x(west, z), _tile_x(east, z) + 1):
        for y in range(_tile_y(north, z), _tile_y(south, z) + 1):
            yield x, y


def prerender_tiles(
    *,
    layers: Iterable[str],
    max_zoom: int,
    min_zoom: int | None = None,
    unit: str | None = None,
    progress: bool = False,
) -> dict[str, int]:
    """
    Builds each layer's tiles (with its default parameters) from its first zoom (or `min_zoom`) up
    to `max_zoom` over each common viewer's extent, and stores them in the tile cache under the key a
    request of such a viewer looks up, so that request is answered without touching the database.
    Returns the tiles built per layer.
    """
    from layers.registry import get_layer
    from tiles import cache

    layers = list(layers)
    plan = []
    viewers = common_viewers(unit=unit)
    for name in layers:
        layer_class = get_layer(name)
        params = layer_class.parse_params(QueryDict(""))
        low = max(layer_class.min_zoom, min_zoom if min_zoom is not None else layer_class.min_zoom)
        high = min(layer_class.max_zoom, max_zoom)
        for viewer in viewers:
            for z in range(low, high + 1):
                plan += [(name, layer_class, params, viewer, z, x, y) for x, y in covering_tiles(viewer.bounds, z)]
    built = dict.fromkeys(layers, 0)
    for name, layer_class, params, viewer, z, x, y in tqdm(plan, desc="tiles", unit="tile", disable=not progress):
        key = cache.tile_key(name, z, x, y, params, viewer.scope.cache_key, layer_class.sources)
        cache.put(key, layer_class(viewer.scope, params).tile(z, x, y), settings.GEOGRID_PRERENDER_CACHE_SECONDS)
        built[name] += 1
    return built


def prerender_soon(*, sources: Iterable[str]) -> None:
    """
    After data under the tiles changed (an activation, a KPI refresh): when GEOGRID_PRERENDER_MAX_ZOOM
    is set, the layers of GEOGRID_PRERENDER_LAYERS that read those sources are built again in the
    background once the change commits.
    """
    max_zoom = settings.GEOGRID_PRERENDER_MAX_ZOOM
    if max_zoom < 0:
        return
    from jobs.services import task_enqueue
    from layers.registry import LAYERS
    from tiles.tasks import prerender_tiles_task

    changed = set(sources)
    layers = [
        name for name in settings.GEOGRID_PRERENDER_LAYERS if name in LAYERS and changed & set(LAYERS[name].sources)
    ]
    if layers:
        task_enqueue(prerender_tiles_task, layers, max_zoom)

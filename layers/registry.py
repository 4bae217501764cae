"""The layer registry: each layer a small declarative class whose queries the tile server wraps in ST_AsMVT."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field

from django.conf import settings
from django.core.exceptions import EmptyResultSet
from django.db.models import QuerySet
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from core.db import fetch_value
from core.errors import ApiError
from core.scope import Scope
from tiles.functions import BUFFER, EXTENT, TileBounds, pixel_metres

LAYERS: dict[str, type[Layer]] = {}

# Tile statements built once per layer, parameters, scope and zoom (Layer.tile_sql), with the two
# made-up tiles they are built with: coordinates no tile has, so they cannot be mistaken for others.
TEMPLATES_KEPT = 2048
_TEMPLATES: dict = {}
_TEMPLATES_LOCK = threading.Lock()
_UNTEMPLATED = object()
_MADE_UP_TILES = ((-1_000_003, -1_000_033), (-1_000_019, -1_000_051))


def register(cls):
    LAYERS[cls.name] = cls
    return cls


@dataclass
class Part:
    """
    One MVT layer of a tile: a queryset with a `tile_geom` annotation, or SQL selecting the `fields`
    and `tile_geom`. `srid` is the SRID of `tile_geom` (4326, or 3857 for geometry built for the tile).
    """

    name: str
    fields: list[str]
    limit: int
    queryset: QuerySet | None = None
    sql: str = ""
    params: list = field(default_factory=list)
    srid: int = 4326
    simplify: bool = False  # polygons: drop vertices closer than half a tile pixel
    export: bool = True  # part of the layer's GeoJSON and HTML exports

    def inner(self, limit: int | None = None) -> tuple[str, list]:
        limit = self.limit if limit is None else limit
        if self.queryset is not None:
            sql, params = self.queryset.values(*self.fields, "tile_geom")[:limit].query.sql_with_params()
            return sql, list(params)
        return f"{self.sql} LIMIT {int(limit)}", list(self.params)


@dataclass(frozen=True)
class Window:
    """What a layer is asked for: a tile (zoom and bounds) or an export (a unit's subtree, no bounds)."""

    z: int
    bounds: TileBounds | None = None  # the tile's, buffered
    under: str | None = None  # a code prefix: only records of this subtree
    tile: tuple[int, int] | None = None  # the tile's x and y

    @property
    def is_tile(self) -> bool:
        return self.bounds is not None


@dataclass
class Param:
    """A query parameter a layer accepts: how to read it, its default, and the choices when it has a list."""

    parse: object
    default: object = None
    choices: tuple = ()
    help: str = ""


class Layer:
    """
    A map layer. Subclasses declare `name`, `title`, `sources` (whose data versions key the tile
    cache), `min_zoom`/`max_zoom`, `tile_layers` (MVT layer name: {field: type}, for TileJSON) and
    `params`, and implement `parts(window)` returning the queries of one tile or export, already
    filtered by scope. Layers with a classification implement `legend()`.
    """

    name = ""
    title = ""
    description = ""
    geometry = "polygon"
    sources: tuple[str, ...] = ()
    min_zoom = 8
    max_zoom = 18
    tile_layers: dict[str, dict[str, str]] = {}
    params: dict[str, Param] = {}
    permission = "boundaries.view_gridunit"
    classified = False  # the legend classifies a `value` property into colours
    tooltip: tuple[tuple[str, str], ...] = ()  # (property, label) shown in the HTML export
    color = "#3b6fb6"  # the colour of an unclassified layer's features

    def __init__(self, scope: Scope, params: dict):
        self.scope = scope
        self.params = params

    @classmethod
    def parse_params(cls, query) -> dict:
        """The layer's parameters from a query string, validated; 400 naming the parameter otherwise."""
        values = {}
        for name, spec in cls.params.items():
            raw = query.get(name)
            if raw in (None, ""):
                values[name] = spec.default() if callable(spec.default) else spec.default
                continue
            try:
                value = spec.parse(raw)
            except (ValueError, TypeError) as exc:
                message = str(exc) or _("Not a valid value.")
                raise ApiError(
                    _("Bad parameter %(name)s: %(reason)s") % {"name": name, "reason": message},
                    fields={name: [message]},
                ) from None
            if spec.choices and value not in spec.choices:
                message = _("Use one of: %(choices)s.") % {"choices": ", ".join(map(str, spec.choices))}
                raise ApiError(message, fields={name: [message]})
            values[name] = value
        cls.check_params(values)
        return values

    @classmethod
    def check_params(cls, values: dict) -> None:
        """Checks across parameters (a window's start before its end); raises ApiError."""

    @classmethod
    def describe(cls) -> dict:
        return {
            "name": cls.name,
            "title": str(cls.title),
            "description": str(cls.description),
            "geometry": cls.geometry,
            "min_zoom": cls.min_zoom,
            "max_zoom": cls.max_zoom,
            "sources": list(cls.sources),
            "params": [
                {
                    "name": name,
                    "default": None if callable(spec.default) else spec.default,
                    "choices": list(spec.choices),
                    "help": str(spec.help),
                }
                for name, spec in cls.params.items()
            ],
            "vector_layers": cls.vector_layers(),
        }

    def parts(self, window: Window) -> list[Part]:
        raise NotImplementedError

    def legend(self, *, z: int | None = None) -> dict:
        """An unclassified layer's legend: one symbol."""
        return {"title": str(self.title), "classes": [{"label": str(self.title), "color": self.color}]}

    @classmethod
    def vector_layers(cls) -> list[dict]:
        """TileJSON's description of the MVT layers a tile holds and their fields."""
        return [
            {"id": name, "fields": fields, "minzoom": cls.min_zoom, "maxzoom": cls.max_zoom}
            for name, fields in cls.tile_layers.items()
        ]

    @classmethod
    def tilejson_bounds(cls, scope: Scope) -> list[float]:
        """The extent of the units the viewer may see (the whole world when there are none)."""
        from django.contrib.gis.db.models import Extent

        from boundaries.models import GridUnit
        from boundaries.selectors import generation_active, valid_at_q

        world = [-180, -85.0511, 180, 85.0511]
        generation = generation_active()
        if generation is None:
            return world
        extent = (
            GridUnit.objects.filter(valid_at_q(generation)).filter(scope.q("code")).aggregate(e=Extent("geom"))["e"]
        )
        return [round(v, 6) for v in extent] if extent else world

    # --- the tile ---------------------------------------------------------------------------------

    def _parts(self, window: Window) -> list[Part]:
        try:
            return self.parts(window)
        except EmptyResultSet:  # raised while a part compiled its query: nothing to show
            return []

    def tile_sql(self, z: int, x: int, y: int) -> tuple[str, list]:
        """
        The tile as one SQL statement: each part's ST_AsMVT, concatenated (MVT layers simply append).
        Building it through the ORM costs about as much as running it for a small tile, so the statement
        is built once per layer, parameters, viewer's scope and zoom, with two made-up tiles, and kept
        when the two differ only in the parameters holding x and y; a tile then only fills those in.
        A layer whose statement depends on x or y some other way is built for every tile.
        """
        key = (self.name, z, json.dumps(sorted(self.params.items()), default=str), self.scope.cache_key)
        template = _TEMPLATES.get(key)
        if template is None:
            template = self._tile_template(z)
            with _TEMPLATES_LOCK:
                if len(_TEMPLATES) >= TEMPLATES_KEPT:
                    _TEMPLATES.clear()
                _TEMPLATES[key] = template
        if template is _UNTEMPLATED:
            return self._tile_sql(z, x, y)
        sql, params, slots = template
        params = list(params)
        for index, (kind, axis) in slots.items():
            params[index] = kind(x if axis == "x" else y)
        return sql, params

    def _tile_template(self, z: int):
        (ax, ay), (bx, by) = _MADE_UP_TILES
        sql_a, params_a = self._tile_sql(z, ax, ay)
        sql_b, params_b = self._tile_sql(z, bx, by)
        if sql_a != sql_b or len(params_a) != len(params_b):
            return _UNTEMPLATED
        slots = {}
        for index, (a, b) in enumerate(zip(params_a, params_b, strict=True)):
            if type(a) is type(b) and a == b:
                continue
            if isinstance(a, int) and (a, b) in ((ax, bx), (ay, by)):
                slots[index] = (type(a), "x" if a == ax else "y")
                continue
            return _UNTEMPLATED  # a value computed from x or y: this layer's statement cannot be reused
        return sql_a, params_a, slots

    def _tile_sql(self, z: int, x: int, y: int) -> tuple[str, list]:
        statements, params = [], []
        for part in self._parts(Window(z=z, bounds=TileBounds(z, x, y), tile=(x, y))):
            try:
                sql, part_params = _part_sql(part, z, x, y)
            except EmptyResultSet:  # a filter no row can pass (a scope with no units)
                continue
            statements.append(f"({sql})")
            params += part_params
        if not statements:
            return "", []
        return "SELECT " + " || ".join(statements), params

    def tile(self, z: int, x: int, y: int) -> bytes:
        sql, params = self.tile_sql(z, x, y)
        if not sql:
            return b""
        return bytes(fetch_value(sql, params) or b"")

    # --- the export -------------------------------------------------------------------------------

    def export_sql(self, *, under: str, limit: int, z: int = 16) -> tuple[str, list]:
        """One GeoJSON Feature (text) per row for the subtree `under`, at most `limit`, built by PostGIS."""
        precision = settings.GEOGRID_GEOJSON_PRECISION
        statements, params = [], []
        for part in self._parts(Window(z=z, under=under)):
            if not part.export:
                continue
            try:
                inner, inner_params = part.inner(limit)
            except EmptyResultSet:
                continue
            geometry = 'inner_query."tile_geom"' if part.srid == 4326 else 'ST_Transform(inner_query."tile_geom", 4326)'
            columns = ", ".join(f'inner_query."{name}"' for name in part.fields)
            # PostGIS writes the whole Feature from the row, its other columns as properties: building it
            # with json_build_object parsed every geometry's GeoJSON back into json on the way.
            statements.append(
                f"SELECT ST_AsGeoJSON(feature.*, '{EXPORT_GEOMETRY}', {int(precision)}) "
                f'FROM (SELECT {columns}, {geometry} AS "{EXPORT_GEOMETRY}" FROM ({inner}) inner_query) feature'
            )
            params += inner_params
        if not statements:
            return "", []
        return f"SELECT * FROM ({' UNION ALL '.join(statements)}) features LIMIT {int(limit)}", params


# The geometry column of an exported row: a name no layer field takes.
EXPORT_GEOMETRY = "_feature_geometry"


def _part_sql(part: Part, z: int, x: int, y: int) -> tuple[str, list]:
    inner, inner_params = part.inner()
    columns = ", ".join(f'inner_query."{name}"' for name in part.fields)
    geometry = 'inner_query."tile_geom"' if part.srid == 3857 else 'ST_Transform(inner_query."tile_geom", 3857)'
    if part.simplify:
        # Vertices closer than half a tile pixel cannot be told apart on screen.
        geometry = f"ST_SimplifyPreserveTopology({geometry}, {pixel_metres(z) / 2:.6f})"
    sql = (
        f"SELECT ST_AsMVT(mvt.*, %s, {EXTENT}, 'geom') FROM ("
        f"SELECT {columns}, ST_AsMVTGeom({geometry}, ST_TileEnvelope(%s, %s, %s), {EXTENT}, {BUFFER}, true) AS geom "
        f"FROM ({inner}) inner_query) mvt WHERE mvt.geom IS NOT NULL"
    )
    return sql, [part.name, z, x, y, *inner_params]


def get_layer(name: str) -> type[Layer]:
    if name not in LAYERS:
        raise ApiError(_("No layer %(name)s.") % {"name": name}, code="not_found", status_code=404)
    return LAYERS[name]


NO_DATA = gettext_lazy("no data")

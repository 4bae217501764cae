"""HTTP API of the map layers: the list with legends, a layer's legend, and a unit's layer as GeoJSON or HTML."""

from __future__ import annotations

import json

from django.conf import settings
from django.db import connection
from django.http import HttpResponse
from django.utils.text import slugify
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from psycopg.adapt import Loader
from rest_framework.response import Response

from accounts.auth import ScopedAPIView
from boundaries.selectors import generation_get, unit_get
from core.errors import ApiError
from core.geojson import GEOJSON_CONTENT_TYPE, feature_collection_head
from core.scope import subtree_prefix
from layers import classify
from layers.folium_export import layer_html
from layers.registry import LAYERS, Layer, get_layer

UNIT = OpenApiParameter("unit", str, required=True, description="Code of the unit whose subtree is exported.")
ZOOM = OpenApiParameter("z", int, description="Zoom the legend is for (layers whose level or resolution follow it).")


def _zoom(request) -> int | None:
    raw = request.query_params.get("z")
    if raw in (None, ""):
        return None
    try:
        z = int(raw)
    except ValueError:
        raise ApiError(_("z is a zoom level, 0 to 22."), fields={"z": [_("Not a number.")]}) from None
    if not 0 <= z <= 22:
        raise ApiError(_("z is a zoom level, 0 to 22."), fields={"z": [_("Out of range.")]})
    return z


class _LayerApi(ScopedAPIView):
    def layer(self, name: str) -> Layer:
        layer_class = get_layer(name)
        if not self.scope.has(layer_class.permission):
            raise ApiError(_("Your role may not see this layer."), code="permission_denied", status_code=403)
        return layer_class(self.scope, layer_class.parse_params(self.request.query_params))


class LayerListApi(ScopedAPIView):
    """The layers the caller may see: parameters, zoom range, tile and TileJSON URLs, export URLs, legends."""

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request):
        base = request.build_absolute_uri("/")[:-1]
        results = []
        for name, layer_class in LAYERS.items():
            if not self.scope.has(layer_class.permission):
                continue
            layer = layer_class(self.scope, layer_class.parse_params({}))
            results.append(
                {
                    **layer_class.describe(),
                    "tiles": f"{base}/tiles/{name}/{{z}}/{{x}}/{{y}}.mvt",
                    "tilejson": f"{base}/tiles/{name}.json",
                    "legend_url": f"{base}/api/v1/layers/{name}/legend/",
                    "export": {
                        "geojson": f"{base}/api/v1/layers/{name}/export.geojson?unit={{code}}",
                        "html": f"{base}/api/v1/layers/{name}/export.html?unit={{code}}",
                    },
                    "classified": layer_class.classified,
                    "legend": layer.legend(),
                }
            )
        return Response({"count": len(results), "results": results})


class LayerLegendApi(_LayerApi):
    """A layer's legend for the given parameters: classes with bounds, colours and counts, and breaks."""

    @extend_schema(parameters=[ZOOM], responses={200: OpenApiTypes.OBJECT})
    def get(self, request, layer: str):
        return Response(self.layer(layer).legend(z=_zoom(request)))


def _too_many(limit: int) -> ApiError:
    return ApiError(
        _("This unit holds more than %(limit)s features of this layer: export a smaller unit or narrow the filters.")
        % {"limit": f"{limit:,}"},
        code="too_many_features",
        fields={"unit": [_("Too many features.")]},
    )


def _features(layer: Layer, *, under: str, limit: int) -> list[str]:
    """The layer's features in the subtree `under`, one GeoJSON Feature (text) each; at most `limit`."""
    sql, params = layer.export_sql(under=under, limit=limit + 1)
    if not sql:
        return []
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = [row[0] for row in cursor.fetchall()]
    if len(rows) > limit:
        raise _too_many(limit)
    return rows


class _Utf8Bytes(Loader):
    """Text as the bytes PostgreSQL sent (UTF-8): a response body needs no decoding and encoding again."""

    def load(self, data) -> bytes:
        return bytes(data)


def _feature_collection(layer: Layer, *, under: str, limit: int, members: dict) -> bytes:
    """
    The same features as the body of one FeatureCollection, joined by PostgreSQL: one value crosses to
    Python as bytes instead of a row per feature decoded into a string (for 10,000 cells about 20 ms
    less than fetching rows, joining them and encoding the result).
    """
    sql, params = layer.export_sql(under=under, limit=limit + 1)
    features = b""
    if sql:
        with connection.cursor() as cursor:
            cursor.cursor.adapters.register_loader("text", _Utf8Bytes)
            cursor.execute(f"SELECT count(*), string_agg(f.feature, ',') FROM ({sql}) f(feature)", params)
            count, features = cursor.fetchone()
        if count > limit:
            raise _too_many(limit)
    return b"".join((feature_collection_head(members).encode(), features or b"", b"]}"))


class _ExportApi(_LayerApi):
    def unit(self):
        code = self.request.query_params.get("unit", "").strip()
        if not code:
            raise ApiError(
                _("Name the unit to export: ?unit=CODE."), fields={"unit": [_("This parameter is required.")]}
            )
        return unit_get(scope=self.scope, code=code, generation=generation_get())

    def filename(self, layer: Layer, unit, extension: str) -> str:
        return f"{layer.name}-{slugify(unit.code)}.{extension}"


class LayerGeoJsonExportApi(_ExportApi):
    """The layer's features in a unit's subtree as a GeoJSON FeatureCollection (WGS-84), built by PostGIS."""

    @extend_schema(parameters=[UNIT], responses={(200, GEOJSON_CONTENT_TYPE): OpenApiTypes.OBJECT})
    def get(self, request, layer: str):
        the_layer = self.layer(layer)
        unit = self.unit()
        collection = _feature_collection(
            the_layer,
            under=subtree_prefix(unit.code),
            limit=settings.GEOGRID_LAYER_EXPORT_LIMIT,
            members={"name": f"{the_layer.name} {unit.code}"},
        )
        response = HttpResponse(collection, content_type=GEOJSON_CONTENT_TYPE)
        response["Content-Disposition"] = f'attachment; filename="{self.filename(the_layer, unit, "geojson")}"'
        return response


class LayerHtmlExportApi(_ExportApi):
    """The layer in a unit as one self-contained HTML map (folium, Leaflet inlined): opens offline."""

    @extend_schema(parameters=[UNIT], responses={(200, "text/html"): OpenApiTypes.STR})
    def get(self, request, layer: str):
        the_layer = self.layer(layer)
        unit = self.unit()
        rows = _features(the_layer, under=subtree_prefix(unit.code), limit=settings.GEOGRID_LAYER_HTML_LIMIT)
        features = [json.loads(row) for row in rows]
        legend = the_layer.legend(z=16)
        bins = legend.get("breaks")
        prop = legend.get("property", "value")
        items = [{"label": c["label"], "color": c["color"]} for c in legend.get("classes", [])]
        for feature in features:
            properties = feature["properties"]
            if bins is not None:
                index = classify.class_of(properties.get(prop), bins)
                properties["fill"] = classify.NO_DATA_COLOR if index is None else legend["classes"][index]["color"]
            else:
                properties["fill"] = the_layer.color
        if bins is not None:
            items.append({"label": str(legend["no_data"]["label"]), "color": classify.NO_DATA_COLOR})
        page = layer_html(
            title=f"{the_layer.title} · {unit.name} ({unit.code})",
            collection={"type": "FeatureCollection", "features": features},
            legend=items,
            tooltip_fields=[(field, str(label)) for field, label in the_layer.tooltip],
            note=_("%(count)s features") % {"count": f"{len(features):,}"},
        )
        response = HttpResponse(page, content_type="text/html; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{self.filename(the_layer, unit, "html")}"'
        return response

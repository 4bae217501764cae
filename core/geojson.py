"""GeoJSON built by PostGIS: each feature is serialised in the database and only concatenated here."""

import json
from collections.abc import Iterable, Iterator, Mapping

from django.conf import settings
from django.contrib.gis.db.models.functions import AsGeoJSON
from django.db.models import Expression, F, Func, TextField, Value
from django.http import HttpResponse, StreamingHttpResponse

from core.pagination import PageNumberPagination

GEOJSON_CONTENT_TYPE = "application/geo+json"


class JSONBuildObject(Func):
    function = "json_build_object"
    output_field = TextField()
    # Rendered as text so Python never parses what PostGIS serialised.
    template = "%(function)s(%(expressions)s)::text"


class AsJSON(Func):
    """A GeoJSON text column as a json value, so json_build_object embeds it as an object."""

    template = "(%(expressions)s)::json"
    output_field = TextField()


def _as_expression(value) -> Expression:
    return F(value) if isinstance(value, str) else value


def feature_expression(*, id_field: str, geometry: str | Expression, properties: Mapping[str, str | Expression]):
    """A text expression: one GeoJSON Feature per row, its geometry from ST_AsGeoJSON."""
    props: list = []
    for key, value in properties.items():
        props += [Value(key), _as_expression(value)]
    geometry_expr = (
        geometry if not isinstance(geometry, str) else AsGeoJSON(geometry, precision=settings.GEOGRID_GEOJSON_PRECISION)
    )
    return JSONBuildObject(
        Value("type"),
        Value("Feature"),
        Value("id"),
        F(id_field),
        Value("geometry"),
        AsJSON(geometry_expr),
        Value("properties"),
        Func(*props, function="json_build_object") if props else Func(function="json_build_object"),
    )


def features_of(queryset, *, id_field: str, geometry: str | Expression, properties: Mapping[str, str | Expression]):
    """The queryset as a list-like of GeoJSON Feature strings (lazy, sliceable for pagination)."""
    return queryset.annotate(
        geojson_feature=feature_expression(id_field=id_field, geometry=geometry, properties=properties)
    ).values_list("geojson_feature", flat=True)


def feature_collection_head(members: Mapping | None = None) -> str:
    """A FeatureCollection's text up to its first feature: its extra members, then `"features": [`."""
    head = {"type": "FeatureCollection", **(members or {})}
    return json.dumps(head, ensure_ascii=False)[:-1] + ', "features": ['


def feature_collection_chunks(features: Iterable[str], members: Mapping | None = None) -> Iterator[str]:
    """A FeatureCollection as text chunks: its extra members first, then the features."""
    yield feature_collection_head(members)
    first = True
    for feature in features:
        yield feature if first else "," + feature
        first = False
    yield "]}"


def feature_collection_response(features: Iterable[str], members: Mapping | None = None, *, stream: bool = False):
    chunks = feature_collection_chunks(features, members)
    if stream:
        return StreamingHttpResponse(chunks, content_type=GEOJSON_CONTENT_TYPE)
    return HttpResponse("".join(chunks), content_type=GEOJSON_CONTENT_TYPE)


class FeatureCollectionPagination(PageNumberPagination):
    """Paginates a queryset of Feature strings; the page is a FeatureCollection with count/next/previous."""

    def get_paginated_response(self, data):
        members = {
            "count": self.page.paginator.count,
            "next": self.get_next_link(),
            "previous": self.get_previous_link(),
        }
        if self.page.paginator.estimated:
            members["count_estimated"] = True
        return feature_collection_response(data, members)

    def get_paginated_response_schema(self, schema):
        return {
            "type": "object",
            "required": ["type", "count", "features"],
            "properties": {
                "type": {"type": "string", "enum": ["FeatureCollection"]},
                "count": {"type": "integer"},
                "next": {"type": "string", "nullable": True, "format": "uri"},
                "previous": {"type": "string", "nullable": True, "format": "uri"},
                "features": schema,
            },
        }

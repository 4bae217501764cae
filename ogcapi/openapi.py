"""The OpenAPI 3.0 definition of the OGC API - Features endpoints (the landing page's service-desc)."""

from ogcapi.query import DEFAULT_LIMIT, MAX_LIMIT
from ogcapi.selectors import COLLECTIONS


def _parameter(name: str, schema: dict, description: str, *, where: str = "query", required: bool = False) -> dict:
    parameter = {"name": name, "in": where, "required": required, "schema": schema, "description": description}
    if where == "query":
        parameter.update(style="form", explode=False)
    return parameter


def _get(summary: str, operation_id: str, content_type: str, parameters=()) -> dict:
    return {
        "get": {
            "summary": summary,
            "operationId": operation_id,
            "parameters": [
                _parameter("f", {"type": "string", "enum": ["json", "html"]}, "Output format"),
                _parameter("token", {"type": "string"}, "API token, when no Authorization header can be sent"),
                *parameters,
            ],
            "responses": {
                "200": {"description": "OK", "content": {content_type: {}, "text/html": {}}},
                "400": {"description": "Bad request", "content": {"application/json": {}}},
                "401": {"description": "Not signed in", "content": {"application/json": {}}},
                "404": {"description": "Not found", "content": {"application/json": {}}},
            },
        }
    }


def document(*, server: str) -> dict:
    collection_id = _parameter(
        "collectionId", {"type": "string", "enum": list(COLLECTIONS)}, "Collection", where="path", required=True
    )
    feature_id = _parameter("featureId", {"type": "string"}, "Feature", where="path", required=True)
    items_parameters = [
        collection_id,
        _parameter(
            "bbox",
            {"type": "array", "minItems": 4, "maxItems": 4, "items": {"type": "number"}},
            "min_lon,min_lat,max_lon,max_lat (CRS84)",
        ),
        _parameter("datetime", {"type": "string"}, "Instant or interval (start/end, '..' for open); incidents only"),
        _parameter(
            "limit", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT}, "Page size"
        ),
        _parameter("offset", {"type": "integer", "minimum": 0, "default": 0}, "Features to skip"),
    ]
    return {
        "openapi": "3.0.3",
        "info": {"title": "GeoGrid OGC API - Features", "version": "1.0"},
        "servers": [{"url": server}],
        "paths": {
            "/": _get("Landing page", "getLandingPage", "application/json"),
            "/conformance": _get("Conformance classes", "getConformance", "application/json"),
            "/collections": _get("Collections", "getCollections", "application/json"),
            "/collections/{collectionId}": _get(
                "One collection", "describeCollection", "application/json", [collection_id]
            ),
            "/collections/{collectionId}/items": _get(
                "Features", "getFeatures", "application/geo+json", items_parameters
            ),
            "/collections/{collectionId}/items/{featureId}": _get(
                "One feature", "getFeature", "application/geo+json", [collection_id, feature_id]
            ),
        },
    }

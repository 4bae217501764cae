"""OGC API - Features, Part 1 (core, GeoJSON, HTML): landing page, conformance, collections and their items."""

from __future__ import annotations

import json
from urllib.parse import urlencode

from django.http import HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework.authentication import SessionAuthentication

from accounts.auth import ScopedAPIView
from accounts.authentication import TokenAuthentication
from core.errors import ApiError
from core.geojson import GEOJSON_CONTENT_TYPE, feature_collection_chunks
from ogcapi import openapi
from ogcapi.query import CRS84, output_format, parse_items_query
from ogcapi.selectors import Collection, collection_extents, collection_get, collection_list, feature_get, feature_page

JSON = "application/json"
HTML = "text/html"
OPENAPI = "application/vnd.oai.openapi+json;version=3.0"

CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/html",
]


class QueryTokenAuthentication(TokenAuthentication):
    """
    The API token as `?token=<key>`, for GIS clients that cannot send an Authorization header. The
    links of every answer carry the parameter on, so clients that follow `next` stay signed in.
    """

    def authenticate(self, request):
        key = request.query_params.get("token")
        if not key:
            return None
        return self.authenticate_credentials(key.encode())


class OgcApiView(ScopedAPIView):
    """The common part: authentication, unknown parameters refused, links, JSON or HTML answers."""

    # The query token first: its WWW-Authenticate challenge ("Token") makes anonymous callers get 401.
    authentication_classes = [QueryTokenAuthentication, TokenAuthentication, SessionAuthentication]
    allowed_parameters: frozenset[str] = frozenset({"f", "token"})
    template_name = "ogcapi/page.html"

    def perform_content_negotiation(self, request, force=False):
        # Answers are built here (GeoJSON, HTML); DRF renders only errors, always as JSON.
        return super().perform_content_negotiation(request, force=True)

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        unknown = sorted(set(request.query_params) - self.allowed_parameters)
        if unknown:
            message = _("Unknown query parameter: %(names)s.") % {"names": ", ".join(unknown)}
            raise ApiError(message, code="invalid", fields={name: [_("Not supported.")] for name in unknown})
        self.format = output_format(request.query_params, request.headers.get("Accept", ""))

    def url(self, name: str, query: dict | None = None, **kwargs) -> str:
        """An absolute URL of this API, carrying on the caller's `token` parameter if they sent one."""
        params = {key: value for key, value in (query or {}).items() if value is not None}
        token = self.request.query_params.get("token")
        if token:
            params["token"] = token
        url = self.request.build_absolute_uri(reverse(f"ogcapi:{name}", kwargs=kwargs))
        return f"{url}?{urlencode(params)}" if params else url

    def link(self, name: str, rel: str, content_type: str, title, *, query: dict | None = None, **kwargs) -> dict:
        return {"href": self.url(name, query, **kwargs), "rel": rel, "type": content_type, "title": str(title)}

    def links_to(self, name: str, rel: str, title, *, json_type: str = JSON, query: dict | None = None, **kwargs):
        """The JSON and HTML representations of one resource; `rel` for the one being answered."""
        alternate = "alternate" if rel == "self" else rel
        json_rel, html_rel = (rel, alternate) if self.format == "json" else (alternate, rel)
        return [
            self.link(name, json_rel, json_type, title, query={**(query or {}), "f": "json"}, **kwargs),
            self.link(name, html_rel, HTML, title, query={**(query or {}), "f": "html"}, **kwargs),
        ]

    def answer(self, document: dict, *, content_type: str = JSON, html: dict | None = None):
        if self.format == "html":
            context = {"links": document.get("links", []), **(html or {})}
            return render(self.request, self.template_name, context)
        return JsonResponse(document, content_type=content_type, json_dumps_params={"ensure_ascii": False})


class LandingPageApi(OgcApiView):
    """The landing page: what this API is and where its parts are."""

    @extend_schema(exclude=True)
    def get(self, request):
        title = _("GeoGrid OGC API - Features")
        description = _("Grid units and incidents in your jurisdiction, for GIS clients.")
        links = [
            *self.links_to("landing", "self", _("This document")),
            self.link("openapi", "service-desc", OPENAPI, _("API definition")),
            *self.links_to("conformance", "conformance", _("Conformance classes")),
            *self.links_to("collections", "data", _("Collections")),
        ]
        document = {"title": title, "description": description, "links": links}
        return self.answer(document, html={"title": title, "description": description})


class ConformanceApi(OgcApiView):
    @extend_schema(exclude=True)
    def get(self, request):
        links = self.links_to("conformance", "self", _("Conformance classes"))
        return self.answer(
            {"conformsTo": CONFORMANCE, "links": links},
            html={"title": _("Conformance classes"), "items": CONFORMANCE},
        )


class OpenApiDocumentApi(OgcApiView):
    @extend_schema(exclude=True)
    def get(self, request):
        document = openapi.document(server=self.url("landing").split("?")[0].rstrip("/"))
        return JsonResponse(document, content_type=OPENAPI, json_dumps_params={"ensure_ascii": False})


class CollectionsMixin:
    def collection_document(self, collection: Collection, extent: dict) -> dict:
        links = [
            *self.links_to("collection", "self", collection.title, collection_id=collection.id),
            *self.links_to(
                "items", "items", collection.title, json_type=GEOJSON_CONTENT_TYPE, collection_id=collection.id
            ),
        ]
        document = {
            "id": collection.id,
            "title": str(collection.title),
            "description": str(collection.description),
            "itemType": "feature",
            "crs": [CRS84],
            "links": links,
        }
        bbox = extent.get("bbox")
        document["extent"] = {"spatial": {"bbox": [list(bbox) if bbox else [-180, -90, 180, 90]], "crs": CRS84}}
        if collection.temporal:
            interval = [moment.isoformat() if moment else None for moment in extent.get("interval", [None, None])]
            document["extent"]["temporal"] = {
                "interval": [interval],
                "trs": "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian",
            }
        return document


class CollectionListApi(CollectionsMixin, OgcApiView):
    @extend_schema(exclude=True)
    def get(self, request):
        collections = collection_list(scope=self.scope)
        extents = collection_extents(scope=self.scope, collections=collections)
        documents = [self.collection_document(c, extents.get(c.id, {})) for c in collections]
        links = self.links_to("collections", "self", _("Collections"))
        # The second of each pair of links is the HTML page.
        rows = [(d["links"][1]["href"], [d["id"], d["title"]]) for d in documents]
        return self.answer(
            {"links": links, "collections": documents},
            html={"title": _("Collections"), "columns": [_("Identifier"), _("Title")], "rows": rows},
        )


class CollectionDetailApi(CollectionsMixin, OgcApiView):
    @extend_schema(exclude=True)
    def get(self, request, collection_id: str):
        collection = collection_get(scope=self.scope, collection_id=collection_id)
        extent = collection_extents(scope=self.scope, collections=[collection]).get(collection.id, {})
        document = self.collection_document(collection, extent)
        return self.answer(
            document,
            html={
                "title": collection.title,
                "description": collection.description,
                "items": [
                    f"{key}: {json.dumps(value, ensure_ascii=False)}" for key, value in document["extent"].items()
                ],
            },
        )


def _feature_rows(features: list[dict], href) -> tuple[list[str], list]:
    columns: list[str] = []
    for feature in features:
        for key in feature["properties"]:
            if key not in columns:
                columns.append(key)
    rows = [(href(f["id"]), [f["properties"].get(key) for key in columns]) for f in features]
    return columns, rows


class ItemListApi(OgcApiView):
    """Features of a collection: bbox, datetime, limit and offset; next / prev links."""

    allowed_parameters = OgcApiView.allowed_parameters | {"bbox", "bbox-crs", "datetime", "limit", "offset"}

    @extend_schema(exclude=True)
    def get(self, request, collection_id: str):
        collection = collection_get(scope=self.scope, collection_id=collection_id)
        query = parse_items_query(request.query_params)
        matched, features = feature_page(scope=self.scope, collection=collection, query=query)
        params = {key: request.query_params[key] for key in request.query_params if key not in ("f", "token")}
        kwargs = {"collection_id": collection.id}
        links = self.links_to("items", "self", collection.title, json_type=GEOJSON_CONTENT_TYPE, query=params, **kwargs)
        page = {**params, "f": self.format, "limit": query.limit}
        page_type = HTML if self.format == "html" else GEOJSON_CONTENT_TYPE
        if query.offset + len(features) < matched:
            next_page = {**page, "offset": query.offset + query.limit}
            links.append(self.link("items", "next", page_type, _("Next page"), query=next_page, **kwargs))
        if query.offset > 0:
            prev_page = {**page, "offset": max(query.offset - query.limit, 0)}
            links.append(self.link("items", "prev", page_type, _("Previous page"), query=prev_page, **kwargs))
        links.append(self.link("collection", "collection", JSON, collection.title, **kwargs))
        members = {
            "links": links,
            "timeStamp": timezone.now().isoformat(timespec="seconds").replace("+00:00", "Z"),
            "numberMatched": matched,
            "numberReturned": len(features),
        }
        if self.format == "html":
            parsed = [json.loads(feature) for feature in features]
            columns, rows = _feature_rows(
                parsed, lambda fid: self.url("item", {"f": "html"}, collection_id=collection.id, feature_id=fid)
            )
            return render(
                request,
                self.template_name,
                {
                    "title": collection.title,
                    "description": _("%(returned)s of %(matched)s features")
                    % {"returned": len(features), "matched": matched},
                    "links": links,
                    "columns": columns,
                    "rows": rows,
                },
            )
        return HttpResponse("".join(feature_collection_chunks(features, members)), content_type=GEOJSON_CONTENT_TYPE)


class ItemDetailApi(OgcApiView):
    @extend_schema(exclude=True)
    def get(self, request, collection_id: str, feature_id: str):
        collection = collection_get(scope=self.scope, collection_id=collection_id)
        feature = json.loads(feature_get(scope=self.scope, collection=collection, feature_id=feature_id))
        feature["links"] = [
            *self.links_to(
                "item",
                "self",
                feature_id,
                json_type=GEOJSON_CONTENT_TYPE,
                collection_id=collection.id,
                feature_id=feature_id,
            ),
            self.link("collection", "collection", JSON, collection.title, collection_id=collection.id),
        ]
        return self.answer(
            feature,
            content_type=GEOJSON_CONTENT_TYPE,
            html={
                "title": f"{collection.title}: {feature_id}",
                "columns": list(feature["properties"]),
                "rows": [(None, list(feature["properties"].values()))],
                "geometry": json.dumps(feature["geometry"]),
            },
        )

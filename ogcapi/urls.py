"""URLs of OGC API - Features (included at /ogcapi/)."""

from django.urls import path

from ogcapi import api

app_name = "ogcapi"

urlpatterns = [
    path("", api.LandingPageApi.as_view(), name="landing"),
    path("api", api.OpenApiDocumentApi.as_view(), name="openapi"),
    path("conformance", api.ConformanceApi.as_view(), name="conformance"),
    path("collections", api.CollectionListApi.as_view(), name="collections"),
    path("collections/<str:collection_id>", api.CollectionDetailApi.as_view(), name="collection"),
    path("collections/<str:collection_id>/items", api.ItemListApi.as_view(), name="items"),
    path("collections/<str:collection_id>/items/<str:feature_id>", api.ItemDetailApi.as_view(), name="item"),
]

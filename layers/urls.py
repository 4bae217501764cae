"""URLs of the map layers."""

from django.urls import path

from layers import api

urlpatterns = [
    path("layers/", api.LayerListApi.as_view(), name="layer-list"),
    path("layers/<str:layer>/legend/", api.LayerLegendApi.as_view(), name="layer-legend"),
    path("layers/<str:layer>/export.geojson", api.LayerGeoJsonExportApi.as_view(), name="layer-export-geojson"),
    path("layers/<str:layer>/export.html", api.LayerHtmlExportApi.as_view(), name="layer-export-html"),
]

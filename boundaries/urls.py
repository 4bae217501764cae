"""URLs of the grid API."""

from django.urls import path

from boundaries import api

urlpatterns = [
    path("locate/", api.LocateApi.as_view(), name="locate"),
    path("units/", api.UnitListApi.as_view(), name="unit-list"),
    path("units/<str:code>/", api.UnitDetailApi.as_view(), name="unit-detail"),
    path("units/<str:code>/children/", api.UnitChildrenApi.as_view(), name="unit-children"),
]

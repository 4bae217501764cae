"""URLs of the basic information database."""

from django.urls import path, re_path

from residents import api

urlpatterns = [
    path("households/", api.HouseholdListApi.as_view(), name="household-list"),
    path("households/at/", api.HouseholdAtApi.as_view(), name="household-at"),
    re_path(
        r"^households/export\.(?P<file_format>csv|xlsx|geojson)$",
        api.HouseholdExportApi.as_view(),
        name="household-export",
    ),
    path("households/<int:household_id>/", api.HouseholdDetailApi.as_view(), name="household-detail"),
    path("residents/", api.ResidentListApi.as_view(), name="resident-list"),
    re_path(r"^residents/export\.(?P<file_format>csv|xlsx)$", api.ResidentExportApi.as_view(), name="resident-export"),
    path("residents/<int:resident_id>/", api.ResidentDetailApi.as_view(), name="resident-detail"),
    path("buildings/", api.BuildingListApi.as_view(), name="building-list"),
    path("tags/", api.TagListApi.as_view(), name="tag-list"),
    path("imports/households/", api.ImportCreateApi.as_view(), name="import-create"),
    path("imports/<int:job_id>/", api.ImportDetailApi.as_view(), name="import-detail"),
    path("imports/<int:job_id>/rejects.csv", api.ImportRejectsApi.as_view(), name="import-rejects"),
    path("units/<str:code>/stats/", api.UnitStatsApi.as_view(), name="unit-stats"),
]

"""URLs of assessment."""

from django.urls import path

from assessment import api

urlpatterns = [
    path("kpi/indicators/", api.IndicatorListApi.as_view(), name="kpi-indicators"),
    path("kpi/units/", api.UnitKpiListApi.as_view(), name="kpi-units"),
    path("kpi/units/export.xlsx", api.UnitKpiExportApi.as_view(), name="kpi-export"),
    path("kpi/units/<str:code>/", api.UnitKpiDetailApi.as_view(), name="kpi-unit"),
    path("kpi/units/<str:code>/report.pdf", api.UnitReportPdfApi.as_view(), name="kpi-report"),
    path("kpi/people/", api.PersonKpiListApi.as_view(), name="kpi-people"),
    path("kpi/refresh/", api.KpiRefreshApi.as_view(), name="kpi-refresh"),
    path("schemes/", api.SchemeListApi.as_view(), name="scheme-list"),
    path("schemes/<int:scheme_id>/scores/", api.SchemeScoreApi.as_view(), name="scheme-scores"),
]

"""URLs of incidents, visit logs and notifications."""

from django.urls import path

from incidents import api

urlpatterns = [
    path("incidents/", api.IncidentListApi.as_view(), name="incident-list"),
    path("incidents/duplicates/", api.IncidentDuplicatesApi.as_view(), name="incident-duplicates"),
    path("incidents/progress/", api.IncidentProgressApi.as_view(), name="incident-progress"),
    path("incidents/export.xlsx", api.IncidentExportApi.as_view(), name="incident-export"),
    path("incidents/<int:incident_id>/", api.IncidentDetailApi.as_view(), name="incident-detail"),
    path("incidents/<int:incident_id>/actions/<str:action>/", api.IncidentActionApi.as_view(), name="incident-action"),
    path("attachments/<str:token>/", api.AttachmentApi.as_view(), name="attachment"),
    path("categories/", api.CategoryListApi.as_view(), name="category-list"),
    path("notifications/", api.NotificationListApi.as_view(), name="notification-list"),
    path("visit-logs/", api.VisitLogListApi.as_view(), name="visit-log-list"),
    path("visit-logs/coverage/", api.VisitCoverageApi.as_view(), name="visit-coverage"),
    path("visit-logs/<int:log_id>/", api.VisitLogDetailApi.as_view(), name="visit-log-detail"),
    path("visit-logs/<int:log_id>/incidents/", api.VisitLogIncidentApi.as_view(), name="visit-log-incident"),
]

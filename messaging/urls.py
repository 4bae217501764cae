"""URLs of the SMS platform, mounted at /sms/."""

from django.urls import path

from messaging import api

app_name = "messaging"

urlpatterns = [
    path("inbound/", api.inbound, name="inbound"),
    path("status/", api.status_report, name="status"),
    path("api/messages/", api.MessageListApi.as_view(), name="message-list"),
    path("api/broadcasts/", api.BroadcastListApi.as_view(), name="broadcast-list"),
    path("api/broadcasts/preview/", api.BroadcastPreviewApi.as_view(), name="broadcast-preview"),
    path("api/broadcasts/<int:broadcast_id>/", api.BroadcastDetailApi.as_view(), name="broadcast-detail"),
    path("api/broadcasts/<int:broadcast_id>/approve/", api.BroadcastApproveApi.as_view(), name="broadcast-approve"),
    path("api/broadcasts/<int:broadcast_id>/send/", api.BroadcastSendApi.as_view(), name="broadcast-send"),
]

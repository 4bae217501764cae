"""Open311 GeoReport v2: every resource in JSON or XML, named by the suffix."""

from django.urls import re_path

from open311 import api

FMT = r"\.(?P<fmt>json|xml)$"

app_name = "open311"
urlpatterns = [
    re_path(r"^discovery" + FMT, api.DiscoveryApi.as_view(), name="discovery"),
    re_path(r"^services" + FMT, api.ServiceListApi.as_view(), name="services"),
    re_path(r"^services/(?P<service_code>[\w-]+)" + FMT, api.ServiceDefinitionApi.as_view(), name="service"),
    re_path(r"^requests" + FMT, api.RequestListApi.as_view(), name="requests"),
    re_path(r"^requests/(?P<service_request_id>[\w-]+)" + FMT, api.RequestDetailApi.as_view(), name="request"),
    re_path(r"^tokens/(?P<token>[\w-]+)" + FMT, api.TokenApi.as_view(), name="token"),
]

"""URL configuration of GeoGrid."""

from django.conf import settings
from django.conf.urls.static import static
from django.contrib import admin
from django.urls import include, path
from django.views.i18n import JavaScriptCatalog
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from accounts import views as account_views
from core.views import healthz

api_v1 = [
    path("", include("accounts.urls")),
    path("", include("boundaries.urls")),
    path("", include("residents.urls")),
    path("", include("incidents.urls")),
    path("", include("assessment.urls")),
    path("", include("layers.urls")),
]

urlpatterns = [
    # First: tiles are asked for by the dozen per map view, and are resolved before the pages' patterns.
    path("tiles/", include("tiles.urls")),
    path("", include("web.urls")),
    path("login/", account_views.LoginView.as_view(), name="login"),
    path("logout/", account_views.LogoutView.as_view(), name="logout"),
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("sms/", include("messaging.urls")),
    path("open311/v2/", include("open311.urls")),
    path("ogcapi/", include("ogcapi.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("jsi18n/", JavaScriptCatalog.as_view(), name="javascript-catalog"),
]
if settings.DEBUG:
    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)

handler404 = "core.errors.json_not_found"
handler500 = "core.errors.json_server_error"

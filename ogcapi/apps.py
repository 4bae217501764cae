from django.apps import AppConfig


class OgcApiConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "ogcapi"
    verbose_name = "OGC API - Features"

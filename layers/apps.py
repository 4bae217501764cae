from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class LayersConfig(AppConfig):
    name = "layers"
    verbose_name = _("map layers")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from layers import definitions  # noqa: F401  (registers the layers)

"""App configuration of the boundaries app."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class BoundariesConfig(AppConfig):
    name = "boundaries"
    verbose_name = _("Grid boundaries")

    def ready(self):
        from auditlog.registry import auditlog

        from boundaries.models import Generation, GridUnit

        auditlog.register(Generation)
        # Geometry and what PostGIS derives from it are left out: a boundary is thousands of numbers.
        auditlog.register(GridUnit, exclude_fields=["geom", "area_m2", "label_point"])

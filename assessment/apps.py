"""App configuration of assessment."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AssessmentConfig(AppConfig):
    name = "assessment"
    verbose_name = _("Assessment")

    def ready(self):
        from auditlog.registry import auditlog

        from assessment.models import Scheme, SchemeItem

        auditlog.register(Scheme)
        auditlog.register(SchemeItem)

"""App configuration of incidents."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class IncidentsConfig(AppConfig):
    name = "incidents"
    verbose_name = _("Incidents and visit logs")

    def ready(self):
        from auditlog.registry import auditlog

        from incidents.models import Category, RoutingRule, VisitLog

        auditlog.register(Category)
        auditlog.register(RoutingRule)
        auditlog.register(VisitLog, m2m_fields={"households", "residents"})

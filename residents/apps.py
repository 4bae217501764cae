"""App configuration of residents: change history of households and residents."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ResidentsConfig(AppConfig):
    name = "residents"
    verbose_name = _("Households and residents")

    def ready(self):
        from auditlog.registry import auditlog

        from residents.models import AttentionTag, Building, Household, Resident

        # Encrypted fields and their hashes never enter the change history in clear.
        auditlog.register(Household, m2m_fields={"tags"})
        auditlog.register(
            Resident, exclude_fields=["id_number", "id_number_index", "phone", "phone_index"], m2m_fields={"tags"}
        )
        auditlog.register(Building)
        auditlog.register(AttentionTag)

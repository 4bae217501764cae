"""App configuration of accounts: wires login auditing and role synchronisation."""

from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = _("Accounts and access")

    def ready(self):
        from auditlog.registry import auditlog

        from accounts import schema, signals  # noqa: F401  (OpenAPI auth scheme; sign-in audit receivers)
        from accounts.models import Department, UnitBinding, User

        # Encrypted fields and their hashes never enter the log (an entry would hold them in clear).
        auditlog.register(
            User, exclude_fields=["password", "phone", "phone_index", "last_login"], m2m_fields={"groups"}
        )
        auditlog.register(UnitBinding)
        auditlog.register(Department)
        post_migrate.connect(_sync_roles, sender=self, dispatch_uid="roles_sync")


def _sync_roles(using="default", apps=None, **kwargs):
    from django.apps import apps as global_apps
    from django.contrib.auth.management import create_permissions

    from accounts.services import roles_sync

    # Roles name permissions of apps migrated after this one: create them all first.
    for app_config in global_apps.get_app_configs():
        create_permissions(app_config, verbosity=0, using=using)
    roles_sync()

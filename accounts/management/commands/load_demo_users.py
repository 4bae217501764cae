"""Creates the demo city's staff, one user per role; skips users that exist. Demo passwords are printed."""

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from accounts.demo import DEMO_STAFF, demo_password, demo_units
from accounts.models import Department, User
from accounts.services import user_create
from core.scope import Scope


class Command(BaseCommand):
    help = "Create one demo user per role, bound to units of the demo city, and print their passwords."

    @transaction.atomic
    def handle(self, *args, **options):
        units = demo_units()
        if not units:
            raise CommandError("Load the demo boundaries first (load_demo_boundaries).")
        rows = []
        for username, role, full_name, level, pick, department in DEMO_STAFF:
            code = units[level][min(pick, len(units[level]) - 1)]
            if not User.objects.filter(username=username).exists():
                user_create(
                    scope=Scope.everything(),
                    username=username,
                    password=demo_password(username),
                    roles=[role],
                    units=[code],
                    full_name=full_name,
                    department=Department.objects.filter(code=department).first() if department else None,
                    validate_password=False,
                )
                if role == "system_admin":
                    User.objects.filter(username=username).update(is_staff=True, is_superuser=True)
            rows.append((username, demo_password(username), role, code))
        self.stdout.write("Demo users (demo only; change or remove them on a real deployment):")
        for username, password, role, code in rows:
            self.stdout.write(f"  {username:<18} {password:<34} {role:<18} {code}")

"""The national categories and default routing rules, and the sequence of case numbers."""

from django.db import migrations


def load_catalog(apps, schema_editor):
    from incidents.catalog import CATEGORIES, ROUTING_RULES

    Category = apps.get_model("incidents", "Category")
    RoutingRule = apps.get_model("incidents", "RoutingRule")
    Department = apps.get_model("accounts", "Department")
    departments = {d.code: d for d in Department.objects.all()}
    by_code = {}
    for code, name, family, parent, accept, dispatch, resolve, priority, department in CATEGORIES:
        by_code[code], _created = Category.objects.get_or_create(
            code=code,
            defaults={
                "name": name, "family": family, "parent": by_code.get(parent), "accept_hours": accept,
                "dispatch_hours": dispatch, "resolve_hours": resolve, "default_priority": priority,
                "default_department": departments.get(department),
            },
        )
    if RoutingRule.objects.exists():
        return
    for category, family, level, department, basis, precedence in ROUTING_RULES:
        RoutingRule.objects.create(category=by_code.get(category) if category else None, family=family, level=level,
                                   department=departments.get(department), basis=basis, priority=precedence)


class Migration(migrations.Migration):
    dependencies = [("incidents", "0001_initial"), ("accounts", "0002_departments_and_append_only_audit")]

    operations = [
        migrations.RunSQL("CREATE SEQUENCE IF NOT EXISTS incidents_case_number START 10000001",
                          "DROP SEQUENCE IF EXISTS incidents_case_number"),
        migrations.RunPython(load_catalog, migrations.RunPython.noop),
    ]

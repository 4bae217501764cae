"""A minor class for appeals not yet classified (SMS, calls): the dispatcher completes the category."""

from django.db import migrations


def add_unclassified(apps, schema_editor):
    Category = apps.get_model("incidents", "Category")
    parent = Category.objects.filter(code="E06").first()
    if parent is None:
        return
    Category.objects.get_or_create(
        code="E0699",
        defaults={
            "name": "其他（待分类）",
            "family": "event",
            "parent": parent,
            "accept_hours": 1.0,
            "dispatch_hours": 2.0,
            "resolve_hours": 72.0,
            "default_priority": "normal",
        },
    )


class Migration(migrations.Migration):
    dependencies = [("incidents", "0004_incident_h3")]

    operations = [migrations.RunPython(add_unclassified, migrations.RunPython.noop)]

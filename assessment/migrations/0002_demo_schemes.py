"""Two schemes every deployment starts with: grid workers monthly, communities quarterly."""

from django.db import migrations

SCHEMES = [
    ("网格员月度考核", "person", None, "grid_worker", "month",
     "Visits, coverage and how the worker's cases went.",
     [("visits", 25, 0, 12), ("visit_coverage", 20, 0, 0.1), ("days_since_last_visit", 10, 14, 2),
      ("incidents_found", 15, 0, 8), ("resolve_on_time", 15, 0.5, 0.95), ("satisfied_share", 15, 0.6, 0.95)]),
    ("社区季度考核", "unit", 4, "", "quarter",
     "Cases on time, residents' satisfaction, visits and the basic data of the community.",
     [("accept_on_time", 15, 0.6, 0.98), ("resolve_on_time", 20, 0.5, 0.95), ("median_hours_to_resolve", 10, 96, 12),
      ("satisfied_share", 20, 0.6, 0.95), ("visit_coverage", 15, 0, 0.3), ("resident_completeness", 10, 0.6, 0.98),
      ("unassigned_points", 10, 20, 0)]),
]


def add_schemes(apps, schema_editor):
    Scheme = apps.get_model("assessment", "Scheme")
    SchemeItem = apps.get_model("assessment", "SchemeItem")
    for name, subject, level, role, period, description, items in SCHEMES:
        scheme, created = Scheme.objects.get_or_create(
            name=name, defaults={"subject_kind": subject, "level": level, "role": role, "period_kind": period,
                                 "description": description})
        if created:
            for indicator, weight, floor, target in items:
                SchemeItem.objects.create(scheme=scheme, indicator=indicator, weight=weight, floor=floor,
                                          target=target)


class Migration(migrations.Migration):
    dependencies = [("assessment", "0001_initial")]

    operations = [migrations.RunPython(add_schemes, migrations.RunPython.noop)]

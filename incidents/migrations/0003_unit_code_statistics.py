"""Finer statistics on the unit codes, so the planner estimates subtree (prefix) filters well."""

from django.db import migrations

SQL = """
ALTER TABLE incidents_incident ALTER COLUMN unit_code SET STATISTICS 1000,
    ALTER COLUMN assigned_unit_code SET STATISTICS 1000;
ALTER TABLE residents_household ALTER COLUMN unit_code SET STATISTICS 1000;
ALTER TABLE residents_resident ALTER COLUMN unit_code SET STATISTICS 1000;
"""

REVERSE = """
ALTER TABLE incidents_incident ALTER COLUMN unit_code SET STATISTICS -1,
    ALTER COLUMN assigned_unit_code SET STATISTICS -1;
ALTER TABLE residents_household ALTER COLUMN unit_code SET STATISTICS -1;
ALTER TABLE residents_resident ALTER COLUMN unit_code SET STATISTICS -1;
"""


class Migration(migrations.Migration):
    dependencies = [("incidents", "0002_catalog_and_case_numbers"), ("residents", "0004_unassigned_index")]

    operations = [migrations.RunSQL(SQL, REVERSE)]
